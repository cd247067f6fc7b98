"""benchmarks/charlm.py: the two validation protocols (nanoGPT's independent 256-character blocks and our
carried-state stream), --score on a saved bundle, and --quick."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS, STREAM = "valid_loss_independent_256_blocks", "valid_loss_nats_per_char"


@pytest.fixture
def charlm(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its `import lmbench`
    spec = importlib.util.spec_from_file_location("charlm", ROOT / "benchmarks" / "charlm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(charlm, monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["benchmarks/charlm.py", *args])
    return charlm.main()


def test_block_scoring_of_a_bundle(charlm, char_bundle):
    import rnnlab

    task = rnnlab.load(char_bundle).task
    n = len(task.stream("valid"))
    scored = charlm.lmbench.evaluate_bundle_blocks_fp32(char_bundle, "valid", 16, 5)
    assert (scored["blocks"], scored["tokens"]) == ((n - 1) // 16, (n - 1) // 16 * 16)
    assert scored["dropped"] == (n - 1) % 16 > 0  # the final partial block: not scored
    again = charlm.lmbench.evaluate_bundle_blocks_fp32(char_bundle, "valid", 16, 100)
    assert again["loss"] == pytest.approx(scored["loss"], abs=1e-6)  # deterministic, whatever the batching
    stream = charlm.lmbench.evaluate_bundle_fp32(char_bundle, "valid", 4)
    assert scored["loss"] > stream["loss"] + 0.1  # 16 characters of context against the whole text before


def test_score_writes_both_protocols_the_anchors_first(charlm, char_bundle, tmp_path, monkeypatch):
    out = tmp_path / "charlm.json"
    assert run(charlm, monkeypatch, "--score", str(char_bundle), "--out", str(out)) == 0
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert list(figures)[:2] == [BLOCKS, STREAM]
    # the tiny bundle's ~430 validation characters: one full block, the rest dropped
    assert figures["valid_blocks_256"] == 1
    assert figures["valid_chars_evaluated"] == 256 + figures["valid_chars_dropped_in_blocks"]
    assert set(result["protocols"]) == {BLOCKS, STREAM} and "nanoGPT" in result["protocols"][BLOCKS]
    assert [t["name"] for t in result["targets"]] == [BLOCKS, STREAM]  # no curve: no budget target
    assert result["targets"][0]["value"] == figures[BLOCKS] and result["targets"][0]["target"] == 1.47
    assert result["target"]["met"] == all(t["met"] for t in result["targets"])
    assert result["target"]["reference_protocol"] == BLOCKS and result["scored"]["bundle"] == str(char_bundle)


def test_score_fills_the_figures_of_the_runs_json(charlm, char_bundle, tmp_path, monkeypatch):
    run_json = json.loads((ROOT / "benchmarks" / "results" / "charlm.json").read_text())
    out = tmp_path / "charlm.json"
    out.write_text(json.dumps(run_json))
    with pytest.raises(SystemExit, match="not the bundle of that run"):  # its stream loss is another model's
        run(charlm, monkeypatch, "--score", str(char_bundle), "--out", str(out))
    assert json.loads(out.read_text()) == run_json
    fresh = charlm.score(char_bundle, 4)
    run_json["figures"][STREAM] = fresh[STREAM]  # as if the bundle were that run's
    out.write_text(json.dumps(run_json))
    assert run(charlm, monkeypatch, "--score", str(char_bundle), "--out", str(out)) == 0
    result = json.loads(out.read_text())
    assert list(result["figures"])[:2] == [BLOCKS, STREAM] and result["figures"][BLOCKS] == fresh[BLOCKS]
    assert result["figures"]["best_epoch"] == run_json["figures"]["best_epoch"]  # the run's figures are kept
    assert result["curve"] == run_json["curve"] and result["sample"] == run_json["sample"]
    assert [t["name"] for t in result["targets"]] == [BLOCKS, STREAM, "best_reached_train_minutes"]
    assert result["target"]["met"] == all(t["met"] for t in result["targets"])
    assert run(charlm, monkeypatch, "--rejudge", "--out", str(out)) == 0  # keeps the three targets
    assert json.loads(out.read_text())["targets"] == result["targets"]


def test_committed_result_quotes_the_anchors_protocol_first():
    result = json.loads((ROOT / "benchmarks" / "results" / "charlm.json").read_text())
    if BLOCKS not in result["figures"]:
        pytest.skip("charlm.json predates the block figure (python benchmarks/charlm.py --score BUNDLE)")
    assert list(result["figures"])[0] == BLOCKS and result["targets"][0]["name"] == BLOCKS


@pytest.mark.skipif(not os.environ.get("RNNLAB_DATA"), reason="RNNLAB_DATA is not set: --quick reads Tiny Shakespeare")
def test_quick_charlm_benchmark_writes_both_figures(tmp_path):
    out = tmp_path / "charlm.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "charlm.py"), "--quick", "--out", str(out),
                           "--run-dir", str(tmp_path / "run"), "train.threads=1", "train.progress=false"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert result["quick"] is True and list(figures)[:2] == [BLOCKS, STREAM]
    # the first 100k characters: 10k validate, 9999 targets, 39 full blocks of 256
    assert (figures["valid_chars_evaluated"], figures["valid_blocks_256"]) == (9999, 39)
    assert figures["valid_chars_dropped_in_blocks"] == 9999 - 39 * 256
    assert [t["name"] for t in result["targets"]] == [BLOCKS, STREAM, "best_reached_train_minutes"]
    assert result["target"]["met"] == all(t["met"] for t in result["targets"])
    assert out.with_suffix(".png").exists()
