"""Image features computed once: the frozen CNN's feature maps of each photo, cached on disk.

    FeatureStore(cnn, layers)             where the features of one encoder live (RNNLAB_CACHE, else ~/.cache/rnnlab)
    store.features(paths) -> [{layer: (S, C) float16}]     the cache's, and the missing ones computed in batches
                                                            with a progress bar (rate, ETA), then written
    grid(maps)                            (B, C, h, w) -> (B, h*w, C): one row per region, row-major over the grid

A photo's features are keyed by the SHA-256 of its file's bytes and by the encoder (its name and its weights'
SHA-256) and layer, so a renamed copy of a photo is found, an edited one is recomputed, and two encoders never
share an entry. Entries are safetensors files written atomically (a temporary file, then a rename): a crash
leaves either the whole entry or none. They hold float16 (half the disk; the rounding, ~5e-4 relative, is far
below what separates two photos' features), and the model reads them back as float32.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnlab.readers.images import image_from_bytes
from rnnlab.vision.cnn import CNNS, FrozenCNN, load_cnn, pixels_of


def cache_root() -> Path:
    """$RNNLAB_CACHE, else ~/.cache/rnnlab."""
    return Path(os.environ.get("RNNLAB_CACHE") or Path.home() / ".cache" / "rnnlab")


def grid(maps: Tensor) -> Tensor:
    """(B, C, h, w) feature maps -> (B, h*w, C) region vectors, row-major (region r is row r // w, column r % w)."""
    return maps.flatten(2).transpose(1, 2)


class FeatureStore:
    """The cached features of one encoder's `layers`; computes what is missing with the CNN (loaded only then)."""

    def __init__(self, cnn: str, layers: Sequence[str], root: str | Path | None = None,
                 load: Callable[[str], FrozenCNN] = load_cnn):
        if cnn not in CNNS:
            raise ValueError(f"no encoder {cnn!r}: rnnlab knows {', '.join(CNNS)}")
        self.spec = CNNS[cnn]
        self.layers = tuple(layers)
        self.dir = Path(root or cache_root()) / "features" / f"{cnn}-{self.spec.sha256[:12]}"
        self._load, self._cnn = load, None

    def cnn(self) -> FrozenCNN:
        if self._cnn is None:
            self._cnn = self._load(self.spec.name)
        return self._cnn

    def _entry(self, key: str, layer: str) -> Path:
        return self.dir / layer / key[:2] / f"{key}.safetensors"

    def features_of_images(self, images: list) -> list[dict[str, Tensor]]:
        """Decoded PIL images of any size and mode -> {layer: (S, C) float32} each, not cached: what prediction
        uses (resized and normalised as the training photos were)."""
        pixels = torch.stack([pixels_of(image, self.spec.image_size) for image in images])  # (B, 3, S, S)
        maps = self.cnn()(pixels, self.layers)
        return [{layer: grid(maps[layer])[b] for layer in self.layers} for b in range(len(images))]

    def features_of_bytes(self, data: list[bytes], names: list[str]) -> list[dict[str, Tensor]]:
        """Image files' bytes -> features_of_images; DataError naming the image for anything that is not one."""
        return self.features_of_images([image_from_bytes(d, n) for d, n in zip(data, names)])

    def features(self, paths: Sequence[Path], *, batch_size: int = 32, progress: bool = True,
                 desc: str = "image features") -> list[dict[str, Tensor]]:
        """{layer: (S, C) float16} for each image file, from the cache or computed (and then cached)."""
        from tqdm import tqdm

        keys: list[str] = []
        out: list[dict[str, Tensor] | None] = [None] * len(paths)
        missing: dict[int, bytes] = {}  # index -> the file's bytes, read once: hashed here, decoded below
        for i, path in enumerate(paths):
            data = _read(path)
            keys.append(hashlib.sha256(data).hexdigest())
            entries = [self._entry(keys[i], layer) for layer in self.layers]
            if all(e.is_file() for e in entries):
                out[i] = {layer: load_file(e)["features"] for layer, e in zip(self.layers, entries)}
            else:
                missing[i] = data
        if missing:
            bar = tqdm(total=len(missing), desc=f"{desc} ({self.spec.name}, {len(paths) - len(missing)} cached)",
                       unit="img", disable=not progress, mininterval=2.0)
            todo = list(missing)
            for start in range(0, len(todo), batch_size):
                chunk = todo[start: start + batch_size]
                computed = self.features_of_bytes([missing.pop(i) for i in chunk], [str(paths[i]) for i in chunk])
                for i, feats in zip(chunk, computed):
                    half = {layer: f.to(torch.float16).contiguous() for layer, f in feats.items()}
                    for layer, f in half.items():
                        _atomic_save(self._entry(keys[i], layer), f)
                    out[i] = half
                bar.update(len(chunk))
            bar.close()
        return out  # type: ignore[return-value]


def _read(path: Path) -> bytes:
    from rnnlab.files import read_bytes

    return read_bytes(path)


def _atomic_save(path: Path, features: Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file({"features": features}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
