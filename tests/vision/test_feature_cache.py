"""vision.features: photos' features computed once, keyed by content and encoder, written atomically."""
from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

from rnnlab.errors import DataError
from rnnlab.vision.cnn import load_cnn
from rnnlab.vision.features import FeatureStore, grid


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for k, colour in enumerate(((200, 0, 0), (0, 200, 0), (0, 0, 200))):
        Image.new("RGB", (64, 48), colour).save(folder / f"{k}.png")
    return folder


def _counting_loader(calls):
    def load(name):
        calls.append(name)
        return load_cnn(name)
    return load


def test_features_are_cached_by_content(photos, tmp_path):
    calls = []
    store = FeatureStore("efficientnet-lite0", ("top",), root=tmp_path, load=_counting_loader(calls))
    first = store.features(sorted(photos.glob("*.png")), progress=False)
    assert calls == ["efficientnet-lite0"] and first[0]["top"].shape == (49, 1280)
    assert first[0]["top"].dtype == torch.float16
    # a renamed copy is the same photo: read back, the CNN never loaded
    shutil.copy(photos / "0.png", tmp_path / "renamed.png")
    again, calls2 = FeatureStore("efficientnet-lite0", ("top",), root=tmp_path, load=_counting_loader([])), []
    again._load = _counting_loader(calls2)
    read = again.features([tmp_path / "renamed.png", photos / "2.png"], progress=False)
    assert calls2 == [] and torch.equal(read[0]["top"], first[0]["top"]) and torch.equal(read[1]["top"],
                                                                                          first[2]["top"])
    # an edited photo is another photo: computed
    Image.new("RGB", (64, 48), (10, 10, 10)).save(tmp_path / "renamed.png")
    edited = again.features([tmp_path / "renamed.png"], progress=False)
    assert calls2 == ["efficientnet-lite0"] and not torch.equal(edited[0]["top"], first[0]["top"])
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically: no temporary file left


def test_cached_features_are_the_cnns_own(photos, tmp_path):
    store = FeatureStore("efficientnet-lite0", ("top", "stride16"), root=tmp_path)
    cached = store.features([photos / "1.png"], progress=False)[0]
    direct = store.features_of_bytes([(photos / "1.png").read_bytes()], ["1.png"])[0]
    for layer in ("top", "stride16"):
        assert torch.allclose(cached[layer].float(), direct[layer], rtol=2e-3, atol=2e-3)
    maps = torch.arange(24.0).view(1, 2, 3, 4)
    assert torch.equal(grid(maps)[0, 5], maps[0, :, 1, 1])  # region 5 = row 1, column 1 of a 3 x 4 grid


def test_a_broken_photo_names_itself(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"bad.jpg: (not an image|broken image)"):
        FeatureStore("efficientnet-lite0", ("top",), root=tmp_path / "c").features([bad], progress=False)
    with pytest.raises(DataError, match="file not found"):
        FeatureStore("efficientnet-lite0", ("top",), root=tmp_path / "c").features([tmp_path / "no.jpg"],
                                                                                   progress=False)
