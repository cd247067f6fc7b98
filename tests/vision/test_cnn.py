"""vision.cnn: the frozen ImageNet CNN, its pinned weights and its feature maps."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from rnnlab.vision import cnn as cnn_module
from rnnlab.vision.cnn import CNNS, CNNUnavailable, load_cnn, pixels_of


@pytest.fixture(scope="module")
def lite0():
    return load_cnn("efficientnet-lite0")


def test_the_feature_maps_have_the_declared_shapes(lite0):
    pixels = torch.rand(2, 3, 224, 224) * 255
    maps = lite0(pixels, ("top", "stride16"))
    for layer, (channels, side) in CNNS["efficientnet-lite0"].layers.items():
        assert maps[layer].shape == (2, channels, side, side)
    only = lite0(pixels, ("stride16",))
    assert set(only) == {"stride16"} and torch.equal(only["stride16"], maps["stride16"])
    with pytest.raises(ValueError, match="no layer 'fc'"):
        lite0(pixels, ("fc",))


def test_it_stays_frozen_and_in_eval_mode(lite0):
    lite0.train()
    assert not lite0.training and not lite0.net.training
    assert not any(p.requires_grad for p in lite0.parameters())
    x = torch.rand(1, 3, 224, 224) * 255
    assert torch.equal(lite0(x)["top"], lite0(x)["top"])  # batch norm reads its ImageNet statistics, not the batch


def test_it_holds_the_pinned_imagenet_weights(lite0):
    """The weights are the package file's (not a fresh initialisation), and its ImageNet head tells a plain red
    image from a plain blue one."""
    state = torch.load(cnn_module.weights_path(CNNS["efficientnet-lite0"]), map_location="cpu", weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in lite0.net.state_dict().items() if k in state)
    pixels = torch.stack([pixels_of(Image.new("RGB", (224, 224), c), 224) for c in ((220, 20, 20), (20, 20, 220))])
    with torch.no_grad():
        logits = lite0.net._fc(lite0(pixels)["top"].mean((2, 3)))  # (2, 1000) ImageNet classes
    assert logits.argmax(-1)[0] != logits.argmax(-1)[1]


def test_weights_that_are_not_the_pinned_ones_are_refused(monkeypatch):
    spec = dataclasses.replace(CNNS["efficientnet-lite0"], sha256="0" * 64)
    monkeypatch.setitem(CNNS, "efficientnet-lite0", spec)
    with pytest.raises(CNNUnavailable, match="not the pinned"):
        load_cnn("efficientnet-lite0")
    with pytest.raises(CNNUnavailable, match="no encoder 'vgg16'"):
        load_cnn("vgg16")


def test_a_missing_weights_package_says_what_to_install(monkeypatch):
    spec = dataclasses.replace(CNNS["efficientnet-lite0"], package="no_such_weights_package")
    with pytest.raises(CNNUnavailable, match="needs the package no-such-weights-package"):
        cnn_module.weights_path(spec)


@pytest.mark.parametrize("mode, size", [("RGB", (224, 224)), ("L", (50, 300)), ("RGBA", (1000, 20)), ("P", (7, 7))])
def test_pixels_of_any_photo_are_rgb_at_the_input_size(mode, size):
    x = pixels_of(Image.new(mode, size), 224)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 255
