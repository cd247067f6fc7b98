"""rnnlab.runtime: an export directory runs where a bundle runs (`rnnlab predict` / `serve`, --runtime onnx), with the
bundle's answers; a mismatch of runtime and directory, an altered graph, a verb that needs the weights: one line."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rnnlab.bundle import load
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import BundleError, UserError
from rnnlab.export import PLAIN_ONNXRUNTIME, export_bundle
from rnnlab.runtime import OnnxModel, is_export, load_export, load_predictor
from rnnlab.studio.batching import Batching
from rnnlab.studio.server import create_app
from rnnlab.training import train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the tests' tiny_* data helpers
from same_predictions import assert_same_predictions  # noqa: E402
from tiny_intent import tiny_overrides, write_tiny_data  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
TEXTS = ["what time is it", "play some jazz now please", "zebra", "will it rain tomorrow please"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """(bundle, export) of the tiny intent model."""
    root = tmp_path_factory.mktemp("runtime")
    cfg = load_config(None, tiny_overrides(write_tiny_data(root / "data"), root / "run", epochs=2)
                      + ["train.progress=false"])
    train(cfg, overwrite=True, echo=None)
    bundle = Path(cfg.run_dir) / "bundle"
    export_bundle(bundle, root / "export")
    return bundle, root / "export"


def test_an_export_loads_into_onnxruntime_with_the_bundles_answers(exported):
    bundle, out = exported
    assert is_export(out) and not is_export(bundle)
    onnx, torch_ = load_predictor(out), load_predictor(bundle)
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    assert isinstance(onnx.model, OnnxModel) and list(onnx.model.graphs) == ["model"]
    assert onnx.config == dataclasses.replace(torch_.config, run_dir="")
    assert onnx.metrics == torch_.metrics and onnx.metrics
    got, want = onnx.predict(TEXTS), torch_.predict(TEXTS)
    assert_same_predictions(got, want)
    assert all("influence" in p for p in want) and not any("influence" in p for p in got)
    # one at a time and in a batch: padding changes nothing
    assert [onnx.predict([t])[0]["answer"] for t in TEXTS] == [p["answer"] for p in got]
    assert not onnx.can_trace and torch_.can_trace
    with pytest.raises(UserError, match="tracing needs the PyTorch model"):
        onnx.trace("what time is it")


def test_runtime_and_directory_must_agree(exported):
    bundle, out = exported
    with pytest.raises(UserError, match="not an export directory.*rnnlab export BUNDLE OUT"):
        load_predictor(bundle, "onnx")
    with pytest.raises(UserError, match="run it with --runtime onnx"):
        load_predictor(out, "torch")
    with pytest.raises(BundleError, match="an export directory.*needs the bundle"):
        load(out)  # evaluate, export, trace: verbs that need the PyTorch weights


def test_an_altered_or_incomplete_export_is_refused_naming_the_file(exported, tmp_path):
    _, out = exported
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    graph = copy / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:-10])
    with pytest.raises(BundleError, match="model.onnx.*checksum mismatch"):
        load_export(copy)
    (copy / "vocab.words.json").unlink()
    with pytest.raises(BundleError, match="vocab.words.json"):
        load_export(copy)
    meta = json.loads((out / "export.json").read_text())
    del meta["config"]  # an export written before exports carried their config
    (copy / "export.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="export the bundle again"):
        load_export(copy)


def test_the_cli_predicts_from_an_export(exported, capsys):
    bundle, out = exported
    assert main(["predict", str(out), "--json", *TEXTS]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(bundle), "--json", *TEXTS]) == 0
    want = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert_same_predictions(got, want)
    assert main(["predict", str(out), "--runtime", "onnx", "what time is it"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == "what time is it"
    for argv, message in ((["predict", str(bundle), "--runtime", "onnx", "hi"], "not an export directory"),
                          (["predict", str(out), "--runtime", "torch", "hi"], "run it with --runtime onnx"),
                          (["evaluate", str(out)], "needs the bundle it was exported from"),
                          (["export", str(out), str(out.parent / "again")], "needs the bundle it was exported from")):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_the_server_serves_an_export_batched_with_the_bundles_answers(exported):
    bundle, out = exported
    answers = {}
    for path in (out, bundle):
        with TestClient(create_app(path, batching=Batching(max_batch=8, wait_ms=20)),
                        base_url="http://127.0.0.1:8000") as client:
            card = client.get("/model").json()
            answers[card["runtime"]] = [client.post("/predict", json={"text": t}).json() for t in TEXTS]
            if card["runtime"] == "onnx":
                assert card["can_trace"] is False and card["metrics"]
                reply = client.post("/trace", json={"text": "what time is it"})
                assert reply.status_code == 422 and "tracing needs the PyTorch model" in reply.json()["error"]
                assert client.post("/predict", json={"text": ""}).status_code == 422  # the checks stay
    assert_same_predictions(answers["onnx"], answers["torch"])
    with pytest.raises(UserError, match="not an export directory"):
        create_app(bundle, runtime="onnx")


def test_the_export_card_says_how_to_run_it_with_onnxruntime_alone_as_written(exported, capsys, monkeypatch):
    _, out = exported
    card = (out / "README.md").read_text()
    assert "--runtime onnx" in card and "`tokens` | int64 | ['batch', 'time']" in card
    block = card.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == PLAIN_ONNXRUNTIME
    monkeypatch.chdir(out)
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("model [('tokens', 'tensor(int64)'") and "('logits', 'tensor(float)'" in printed
    assert os.getcwd() == str(out)
