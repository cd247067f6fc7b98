"""Crash safety: SIGKILL a training process mid-epoch, resume it, and get the uninterrupted result."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rnnlab.checkpoint import load_state
from tiny_intent import tiny_overrides, write_tiny_data

# dropout on, so the test also proves the RNG states come back (dropout masks after the resume)
SETTINGS = dict(epochs=12, batch_size=6, checkpoint_every=3, threads=1)
EXTRA = ["model.dropout=0.2", "model.word_dropout=0.1"]


def cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "rnnlab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw)


def final(run_dir):
    metrics = json.loads((run_dir / "bundle" / "metrics.json").read_text())
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return metrics, lines


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    paths = write_tiny_data(tmp_path / "data")
    ref_dir, crash_dir = tmp_path / "ref", tmp_path / "crash"
    ref = cli("train", *tiny_overrides(paths, ref_dir, **SETTINGS), *EXTRA)
    # 29 train examples / batch 6 -> 5 steps an epoch; checkpoint every 3 steps, so mostly mid-epoch
    victim = cli("train", *tiny_overrides(paths, crash_dir, **SETTINGS), *EXTRA)
    checkpoint = crash_dir / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not checkpoint.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert victim.poll() is None, "training finished before it could be killed: " + victim.stderr.read()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (crash_dir / "bundle").exists()
    position = load_state(checkpoint)["position"]  # the atomic write left a complete checkpoint
    assert position["epoch"] < SETTINGS["epochs"]

    resumed = cli("train", "--resume", str(crash_dir))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming {crash_dir} at epoch {position['epoch'] + 1}, step {position['step']}" in out
    ref_out, ref_err = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_err

    (m_ref, lines_ref), (m_res, lines_res) = final(ref_dir), final(crash_dir)
    assert [r["epoch"] for r in lines_res] == [r["epoch"] for r in lines_ref] == list(range(1, 13))
    for a, b in zip(lines_ref, lines_res):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-6)
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=1e-4, abs=1e-6)
    for split in ("valid", "test"):
        assert m_res[split]["accuracy"] == m_ref[split]["accuracy"]
        assert m_res[split]["loss"] == pytest.approx(m_ref[split]["loss"], rel=1e-4, abs=1e-6)
