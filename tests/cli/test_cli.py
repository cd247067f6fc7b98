"""End-to-end runs of the verbs through `rnnlab.cli.main` (in process: fast) and one real subprocess."""
import json
import subprocess
import sys

import pytest

from rnnlab.cli import main
from rnnlab.tasks.base import format_prediction
from tiny_intent import write_tiny_config, write_tiny_data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    paths = write_tiny_data(tmp / "data")
    config = write_tiny_config(tmp, paths, tmp / "run")
    assert main(["train", str(config), "train.epochs=4", "--quiet"]) == 0
    return tmp, config, paths


def test_train_writes_a_run_dir_with_resolved_config(trained):
    tmp, _, _ = trained
    saved = json.loads((tmp / "run" / "config.json").read_text())
    assert saved["train"]["epochs"] == 4 and saved["model"]["hidden_size"] == 12
    assert (tmp / "run" / "bundle" / "model.safetensors").exists()


def test_predict_text_and_json(trained, capsys):
    tmp, _, _ = trained
    assert main(["predict", str(tmp / "run" / "bundle"), "what time is it", "play jazz"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("what time is it\t")
    assert main(["predict", str(tmp / "run" / "bundle"), "--json", "what time is it"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert [s["token"] for s in pred["steps"]] == ["what", "time", "is", "it"]
    assert pred["task"] == "intent" and pred["text"] == "what time is it"
    # the text line is the schema's one-line rendering of that same prediction
    assert lines[0] == f"what time is it\t{format_prediction(pred)}"
    assert lines[0].split("\t")[1].startswith(f"intent: {pred['answer']['label']!r} (")


def test_predict_into_a_closed_pipe_stops_quietly(trained):
    import os

    tmp, _, _ = trained
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written (`... --json | head`, head done)
    argv = [sys.executable, "-m", "rnnlab", "predict", str(tmp / "run" / "bundle"), "play jazz", "--json"]
    proc = subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 141 and "Traceback" not in proc.stderr


def test_evaluate_matches_training_summary(trained, capsys):
    """evaluate reproduces the summary: by default in the precision (and batches) it was computed in."""
    from rnnlab.precision import native_bf16, rel_tolerance

    tmp, _, paths = trained
    bundle = tmp / "run" / "bundle"
    trained_in = json.loads((bundle / "config.json").read_text())["train"]["precision"]
    assert trained_in in ("fp32", "bf16")  # resolved when the run started, not "auto"
    assert main(["evaluate", str(bundle), "--split", "test", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    expected = json.loads((bundle / "metrics.json").read_text())["test"]
    assert got["precision"] == trained_in
    # the same weights, batches, kernels and precision: the same figure up to fp32 summation order
    assert got["accuracy"] == expected["accuracy"] and got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    other = "fp32" if trained_in == "bf16" else ("bf16" if native_bf16() else None)
    if other:  # the other precision differs by no more than bf16's rounding allows
        assert main(["evaluate", str(bundle), "--split", "test", "--json", "--precision", other]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["precision"] == other
        assert again["loss"] == pytest.approx(expected["loss"], rel=rel_tolerance("bf16"))
    assert main(["evaluate", str(bundle), "--data", paths["train"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 36


def test_evaluate_of_a_bf16_bundle_without_native_bf16_runs_fp32_and_says_so(trained, capsys, monkeypatch, tmp_path):
    import shutil

    from rnnlab import precision

    tmp, _, _ = trained
    copy = tmp_path / "bundle"
    shutil.copytree(tmp / "run" / "bundle", copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["train"]["precision"] = "bf16"
    (copy / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: False)
    assert main(["evaluate", str(copy), "--split", "test", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["precision"] == "fp32"
    assert "computed in bf16" in err and "runs in fp32" in err and "0.8%" in err


def test_print_config_and_dry_run_write_nothing(trained, capsys, tmp_path):
    _, config, _ = trained
    assert main(["train", str(config), "model.cell=gru", f"run_dir={tmp_path / 'x'}", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert 'cell = "gru"' in out and "[train]" in out
    assert main(["train", str(config), f"run_dir={tmp_path / 'x'}", "--dry-run"]) == 0
    assert "dry run ok" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "missing.toml"], "missing.toml: config file not found"),
    (["train", "CONFIG", "train.epochs=abc"], "train.epochs must be int"),
    (["train", "CONFIG", "model.colour=red"], "unknown key model.colour"),
    (["train", "--resume", "/nonexistent/run"], "config.json: not found"),
    (["predict", "/nonexistent/bundle", "hi"], "not a bundle directory"),
    (["predict", "BUNDLE", ""], "no words to classify"),
    (["evaluate", "BUNDLE", "--split", "dev"], "split 'dev' is not configured"),
    (["evaluate", "BUNDLE", "--data", "DATA/bad.jsonl"], "bad.jsonl:2"),
    (["data", "check", "nope", "--data-dir", "."], "unknown dataset 'nope'"),
])
def test_user_errors_are_one_line_on_stderr(trained, capsys, argv, message):
    tmp, config, paths = trained
    (tmp / "data" / "bad.jsonl").write_text('{"text": "hi", "intent": "ask_time"}\n{"text": 3}\n')
    subst = {"CONFIG": str(config), "BUNDLE": str(tmp / "run" / "bundle"), "DATA": str(tmp / "data")}
    argv = [next((a.replace(k, v) for k, v in subst.items() if k in a), a) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_flags_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--no-such-flag"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --no-such-flag" in err and err.count("\n") == 1


@pytest.mark.parametrize("verb", ["train", "evaluate", "predict", "demo", "data"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0 and "usage: rnnlab " + verb in capsys.readouterr().out


def test_demo_end_to_end_in_a_subprocess(tmp_path):
    """The real `rnnlab demo` (fewer epochs to stay fast): trains, saves, replays, says what next."""
    out = subprocess.run([sys.executable, "-m", "rnnlab", "demo", "--out", str(tmp_path / "demo"), "--epochs", "3"],
                         capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Test accuracy:" in text and "Replaying \"what time is it?\"" in text
    for word in ("what", "time", "is", "it", "?"):
        assert f"\n  {word} " in text
    assert "Final intent:" in text and f"rnnlab predict {tmp_path / 'demo' / 'bundle'}" in text
    assert (tmp_path / "demo" / "bundle" / "config.json").exists()
