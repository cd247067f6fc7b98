"""The captioning task (issue #26) end to end on photos the tests draw (tests/tiny_caption.py: a coloured shape on
a plain ground, captioned with what is drawn): a tiny decoder over the real CNN's features learns them exactly;
then greedy and beam search, the bundle, the `rnnlab caption` verb, `predict`, `evaluate` and the readers' errors
are checked on it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import rnnlab
from rnnlab.cli import main
from rnnlab.config import config_from_dict
from rnnlab.decoding.search import beam_search, greedy
from rnnlab.decoding.seq2seq import length_limits
from rnnlab.tasks.base import check_prediction
from rnnlab.training import train
from tiny_caption import draw, toy_config, toy_photos


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("caption")
    summary = train(config_from_dict(toy_config(folder)), echo=None, command="tests/tasks/test_caption.py")
    assert summary["valid"]["bleu4"] > 99 and summary["valid"]["cider"] > 5
    return folder


@pytest.fixture(scope="module")
def bundle(trained):
    return trained / "run" / "bundle"


@pytest.fixture(scope="module")
def predictor(bundle):
    return rnnlab.load(bundle)


def _images(trained: Path) -> list[Path]:
    return [trained / "data" / "images" / name for name, _, _ in toy_photos()]


def test_learns_the_toy_photos_exactly_by_greedy_and_beam(trained, predictor):
    for beam in (1, 3):
        predictions = predictor.predict([str(p) for p in _images(trained)], beam=beam)
        for p, (_, _, captions) in zip(predictions, toy_photos()):
            assert p["answer"]["label"] in captions, f"beam {beam}"
    p = predictor.predict([str(_images(trained)[0])])[0]
    check_prediction(p)
    assert p["answer_kind"] == "caption" and 0.3 < p["answer"]["probability"] <= 1.0 and p["scores"]["log_prob"] < 0
    assert p["tokens"][:2] == ["r1c1", "r1c2"] and len(p["tokens"]) == 49
    assert p["image"] == {"width": 96, "height": 96, "grid": [7, 7], "encoder": "efficientnet-lite0", "layer": "top"}


def test_any_photo_of_any_size_and_mode_is_taken(predictor, trained, tmp_path):
    """A photo is converted to RGB and resized as in training whatever its mode and size: a palette PNG of a
    training photo (its exact colours kept) is captioned as the photo is, and a wide JPEG is captioned too."""
    from PIL import Image

    original = _images(trained)[4]
    Image.open(original).convert("P", palette=Image.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    draw("blue", "circle", size=300).resize((500, 200)).save(tmp_path / "wide.jpg")
    preds = predictor.predict([str(original), str(tmp_path / "p.png"), str(tmp_path / "wide.jpg")])
    assert preds[1]["answer"]["label"] == preds[0]["answer"]["label"]
    assert preds[2]["sequence"] and all(w in predictor.task.words.vocab.stoi for w in preds[2]["sequence"])
    assert preds[2]["image"]["width"] == 500 and preds[2]["image"]["height"] == 200


def test_beam_one_is_greedy(predictor, trained):
    task, model = predictor.task, predictor.model
    regions = torch.stack([f["top"] for f in task.store.features(_images(trained), progress=False)]).float()
    regions = torch.cat([regions, torch.rand(3, 49, 1280) * 3])  # photos it never saw, as feature grids
    with torch.no_grad():
        state, memory, sizes = model.start({"regions": regions})
        limits = length_limits(sizes, 0.0, task.model_config.max_words + 1)
        w = task.words
        g = greedy(model.decoder.step, state, memory, w.bos_id, w.eos_id, limits, min_len=1)
        b = beam_search(model.decoder.step, state, memory, w.bos_id, w.eos_id, 1, limits, 0.0, min_len=1)
    assert [h.tokens for h in g] == [h.tokens for h in b]
    assert [h.score for h in g] == pytest.approx([h.score for h in b], abs=1e-5)
    assert [h.tokens for h in task.generate(model, regions, 1)] == [h.tokens for h in g]


def test_the_bundle_round_trips_and_holds_no_pickle(bundle, predictor, trained):
    again = rnnlab.load(bundle)
    photos = [str(p) for p in _images(trained)[:3]]
    assert again.predict(photos) == predictor.predict(photos)
    assert again.trace(photos[0])["attention"] == predictor.trace(photos[0])["attention"]
    names = sorted(p.name for p in bundle.iterdir())
    assert "vocab.words.json" in names and "encoder.json" in names
    assert not [n for n in names if n.endswith((".pt", ".pth", ".pkl", ".bin"))]
    encoder = json.loads((bundle / "encoder.json").read_text())
    assert encoder["name"] == "efficientnet-lite0" and len(encoder["sha256"]) == 64


def test_a_bundle_of_other_cnn_weights_is_refused(bundle, predictor, tmp_path, capsys):
    """The bundle names the CNN and its weights' SHA-256: a model trained on other weights is refused (its features
    would mean something else), and a hand-edited encoder.json fails the bundle's own checksums first."""
    import shutil

    state = predictor.task.state_to_json()
    other = type(predictor.task)(predictor.task.data, predictor.task.model_config)
    with pytest.raises(ValueError, match="SHA-256 1111111111111111"):
        other.state_from_json({**state, "encoder": {**state["encoder"], "sha256": "1" * 64}})
    with pytest.raises(ValueError, match="unknown CNN 'vgg16'"):
        other.state_from_json({**state, "encoder": {**state["encoder"], "name": "vgg16"}})
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    encoder = json.loads((copy / "encoder.json").read_text())
    (copy / "encoder.json").write_text(json.dumps({**encoder, "sha256": "1" * 64}))
    assert main(["caption", str(copy), str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "encoder.json" in err


def test_trace_has_the_attention_over_the_grid_and_the_decoders_states(predictor, trained):
    trace = predictor.trace(str(_images(trained)[2]))
    words = trace["target_tokens"]
    assert words[-1] == "</s>" and len(trace["attention"]) == len(words)
    assert all(len(row) == 49 and abs(sum(row) - 1) < 1e-3 for row in trace["attention"])
    assert trace["cell"] == "lstm" and len(trace["layers"]) == 1
    assert len(trace["layers"][0]["h"]) == len(words) and len(trace["layers"][0]["c"][0]) == 64


def test_caption_cli_lines_and_json(bundle, trained, capsys):
    images = [str(p) for p in _images(trained)[:2]]
    assert main(["caption", str(bundle), *images]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == images
    assert [ln.split("\t")[1] in caps for ln, (_, _, caps) in zip(lines, toy_photos())] == [True, True]
    assert main(["caption", str(bundle), "--beam", "1", "--json", images[0]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["file"] == images[0] and out["caption"] in toy_photos()[0][2] and out["grid"] == [7, 7]
    assert out["tokens"][-1] == "</s>" and len(out["attention"]) == len(out["tokens"])
    assert all(len(grid) == 7 and all(len(row) == 7 for row in grid) for grid in out["attention"])
    # the same through the generic verb
    assert main(["predict", str(bundle), images[0], "--option", "beam=1"]) == 0
    assert capsys.readouterr().out.strip().endswith(out["caption"])


def test_caption_cli_one_line_errors(bundle, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a photo\n")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    for bad, said in (("notes.txt", "not an image"), ("cut.jpg", "image"), ("missing.png", "no such file")):
        assert main(["caption", str(bundle), str(tmp_path / bad)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and bad in err and said in err, err
    Image.new("RGB", (20, 20)).save(tmp_path / "ok.png")
    assert main(["caption", str(bundle), str(tmp_path / "ok.png"), "--beam", "0"]) == 1
    assert "--beam" in capsys.readouterr().err


def test_evaluate_scores_the_split(bundle, capsys):
    assert main(["evaluate", str(bundle), "--split", "valid"]) == 0
    out = capsys.readouterr().out
    assert "bleu4" in out and "cider" in out


def test_the_flickr8k_layout_trains_with_the_same_command(tmp_path, capsys):
    """Flickr8k's own files (a token file, split lists of image names) read as the benchmark reads them."""
    from tiny_caption import write_photos

    write_photos(tmp_path)
    lines = [f"{name}#{k}\t{c} ." for name, _, caps in toy_photos() for k, c in enumerate(caps)]
    (tmp_path / "tokens.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "train.txt").write_text("".join(name + "\n" for name, _, _ in toy_photos()))
    (tmp_path / "dev.txt").write_text("red_square.png\nblue_circle.png\n")
    overrides = ["task=caption", f"run_dir={tmp_path / 'run'}", f"data.captions={tmp_path / 'tokens.txt'}",
                 f"data.images={tmp_path / 'images'}", f"data.train={tmp_path / 'train.txt'}",
                 f"data.valid={tmp_path / 'dev.txt'}", "data.min_count=1", "model.hidden_size=16",
                 "model.project_size=16", "model.embed_size=8", "model.regions=mean", "train.epochs=1",
                 "train.progress=false", "train.threads=1"]
    assert main(["train", *overrides]) == 0
    assert "bleu4" in capsys.readouterr().out
    (tmp_path / "dev.txt").write_text("red_square.png\nnot_there.png\n")
    assert main(["train", *overrides, f"run_dir={tmp_path / 'dry'}", "--dry-run"]) == 1
    assert f"{tmp_path / 'dev.txt'}:2: image not_there.png has no caption" in capsys.readouterr().err


BAD = [
    ("model", "hidden_size", 0, "model.hidden_size must be >= 1, got 0"),
    ("model", "project_size", -1, "model.project_size must be >= 0"),
    ("model", "regions", "pooled", "model.regions must be one of grid, mean"),
    ("model", "attention", "luong", "model.attention must be one of"),
    ("model", "dropout", 1.0, r"model.dropout must be in \[0, 1\)"),
    ("model", "beam", 0, "model.beam must be >= 1"),
    ("model", "max_words", 0, "model.max_words must be >= 1"),
    ("model", "engine", "foo", "model.engine must be one of"),
    ("data", "encoder", "vgg16", "data.encoder must be one of efficientnet-lite0"),
    ("data", "layer", "fc", "data.layer must be one of top, stride16"),
    ("data", "min_count", 0, "data.min_count must be >= 1"),
    ("data", "train", "", "no training data"),
]


@pytest.mark.parametrize("section, key, value, message", BAD, ids=[f"{k}={v}" for _, k, v, _ in BAD])
def test_bad_settings_are_one_line_naming_the_key(section, key, value, message):
    from rnnlab.errors import UserError
    from rnnlab.tasks.caption import CaptionData, CaptionModelConfig, CaptionTask

    data = CaptionData(**{"train": "captions.csv", **({key: value} if section == "data" else {})})
    model = CaptionModelConfig(**({key: value} if section == "model" else {}))
    with pytest.raises(UserError, match=message):
        CaptionTask(data, model)
    with pytest.raises(UserError, match="hidden_size .512. must equal the memory's size .1280"):
        CaptionTask(CaptionData(train="c.csv"), CaptionModelConfig(attention="dot", project_size=0))
