"""Data parallel: 2 CPU processes (gloo) under torchrun train the same model as 1 process."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from rnnlab.precision import rel_tolerance
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
    # Two processes sum the batch's gradients in another order than one. In fp32 that moves figures by
    # far less than 1e-4 after three epochs; under bf16 autocast a tiny difference can tip a value's
    # rounding to bf16 (one unit in its 8-bit last place), so the tolerance is what the precision used allows.
    used = m1["precision"].split()[0]
    assert m2["precision"].split()[0] == used
    rel = max(1e-4, rel_tolerance(used))
    for split in ("valid", "test"):
        if used == "fp32":
            assert m2[split]["accuracy"] == m1[split]["accuracy"]
        else:  # a borderline example may tip: at most one
            assert m2[split]["accuracy"] == pytest.approx(m1[split]["accuracy"], abs=1 / m1[split]["n"] + 1e-9)
        assert m2[split]["loss"] == pytest.approx(m1[split]["loss"], rel=rel, abs=1e-5)
    w1 = load_file(tmp_path / "one" / "bundle" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "bundle" / "model.safetensors")
    assert w1.keys() == w2.keys()
    for k in w1:
        if used == "fp32":
            torch.testing.assert_close(w2[k], w1[k], rtol=rel, atol=1e-5)
        else:  # Adam scales each update by its gradient's own size, so a weight whose gradients are near zero can
            # take a bf16 tip in the gradient as a whole step: bound the tensor's change, not each element's
            assert (w2[k] - w1[k]).norm() <= rel * w1[k].norm() + 1e-6, k
    lines1 = (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()
    lines2 = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    for a, b in zip(map(json.loads, lines1), map(json.loads, lines2)):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=rel)
