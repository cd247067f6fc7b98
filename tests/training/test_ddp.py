"""Data parallel: 2 CPU processes (gloo) under torchrun train the same model as 1 process."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tiny_intent import tiny_overrides, write_tiny_data

# no dropout: the two runs must see the same computation, split differently
SETTINGS = dict(epochs=3, batch_size=8, threads=1)


def test_two_processes_match_one(tmp_path):
    paths = write_tiny_data(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "rnnlab", "train",
                          *tiny_overrides(paths, tmp_path / "one", **SETTINGS)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "rnnlab", "train", *tiny_overrides(paths, tmp_path / "two", **SETTINGS)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "on 2 processes" in two.stdout and two.stdout.count("epoch 3/3") == 1  # only rank 0 reports

    m1 = json.loads((tmp_path / "one" / "bundle" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "bundle" / "metrics.json").read_text())
    assert m2["world_size"] == 2 and m2["replica_spread"] == 0.0  # replicas stayed identical
    for split in ("valid", "test"):
        assert m2[split]["accuracy"] == m1[split]["accuracy"]
        assert m2[split]["loss"] == pytest.approx(m1[split]["loss"], rel=1e-4, abs=1e-5)
    w1 = load_file(tmp_path / "one" / "bundle" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "bundle" / "model.safetensors")
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    lines1 = (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()
    lines2 = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    for a, b in zip(map(json.loads, lines1), map(json.loads, lines2)):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
