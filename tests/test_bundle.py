import json
import shutil

import pytest
import torch

import rnnlab
from rnnlab.bundle import FORMAT_VERSION, load
from rnnlab.config import load_config
from rnnlab.errors import BundleError
from rnnlab.training import train
from tiny_intent import tiny_overrides, write_tiny_data


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    cfg = load_config(None, tiny_overrides(write_tiny_data(tmp / "data"), tmp / "run", epochs=2))
    summary = train(cfg, echo=None, command="rnnlab train tiny")
    return tmp / "run" / "bundle", summary


@pytest.fixture
def copy(bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(bundle[0], dst)
    return dst


def test_bundle_layout_is_json_safetensors_and_markdown_only(bundle):
    path, summary = bundle
    names = sorted(p.name for p in path.iterdir())
    assert names == ["README.md", "config.json", "metrics.json", "model.safetensors",
                     "vocab.intents.json", "vocab.words.json"]
    for p in path.iterdir():
        data = p.read_bytes()
        assert b"\x80\x04\x95" not in data and b"\x80\x02" not in data[:2]  # no pickle protocol headers
        if p.suffix == ".json":
            json.loads(data)
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION and config["task"] == "intent"
    assert config["versions"]["torch"] == torch.__version__
    assert set(config["files"]) == set(names) - {"config.json"}
    card = (path / "README.md").read_text()
    assert "rnnlab train tiny" in card and "accuracy" in card
    assert json.loads((path / "metrics.json").read_text())["test"]["accuracy"] == summary["test"]["accuracy"]


def test_load_predicts_like_the_trained_model(bundle):
    path, summary = bundle
    predictor = rnnlab.load(path)
    out = predictor.predict(["what time is it", "play some jazz zzzunknown"])
    assert out[0]["tokens"] == ["what", "time", "is", "it"]
    assert len(out[0]["steps"]) == 4 and len(out[0]["influence"]["scores"]) == 4
    assert out[1]["unknown"] == [False, False, False, True]
    assert abs(sum(r["probability"] for r in out[0]["ranking"]) - 1) < 1e-5
    # the last step IS the decision
    assert out[0]["steps"][-1]["ranking"][0]["label"] == out[0]["answer"]["label"]
    json.dumps(out)
    assert set(predictor.recurrent) == {"encoder"}


def test_trace_gives_gates_per_step(bundle):
    trace = rnnlab.load(bundle[0]).trace("what time is it")
    (layer,) = trace["layers"]
    assert layer["layer"] == 0 and layer["direction"] == "forward"
    assert len(layer["h"]) == 4 and len(layer["h"][0]) == 12 and len(layer["c"]) == 4
    assert set(layer["gates"]) == {"in_gate", "forget_gate", "cell_candidate", "out_gate"}
    json.dumps(trace)


def test_missing_file(copy):
    (copy / "vocab.words.json").unlink()
    with pytest.raises(BundleError, match=r"vocab.words.json: missing"):
        load(copy)


def test_truncated_weights(copy):
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"model.safetensors: checksum mismatch"):
        load(copy)


def test_tampered_vocab(copy):
    path = copy / "vocab.intents.json"
    path.write_text(path.read_text().replace("ask_time", "ask_tim3"))
    with pytest.raises(BundleError, match=r"vocab.intents.json: checksum mismatch"):
        load(copy)


def test_incompatible_version(copy):
    cfg = json.loads((copy / "config.json").read_text())
    cfg["format_version"] = FORMAT_VERSION + 1
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match=r"config.json: bundle format version 2 .* not supported"):
        load(copy)


def test_config_that_does_not_fit_the_weights(copy):
    cfg = json.loads((copy / "config.json").read_text())
    cfg["model"]["hidden_size"] = 13
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match=r"model.safetensors: weights do not fit"):
        load(copy)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load(tmp_path / "nothing")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="config.json: not valid JSON"):
        load(tmp_path)
