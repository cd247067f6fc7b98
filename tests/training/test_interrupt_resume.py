"""Interrupting `rnnlab train` (Ctrl-C = SIGINT, SIGTERM) at any moment leaves the last complete checkpoint or
none and a complete bundle or none, never a half-written file or a temporary; it exits 130 / 143 with one
line saying what was left; and `--resume` from what was left ends with the figures of the run that was
never interrupted (issue 31).

Tolerance: none. The runs are fp32 (`--precision fp32`) on one thread, and a resumed run redoes the same
operations in the same order from the same state (weights, optimizer, schedule, RNG states, position), so
its weights are bit-identical and its metrics equal to the uninterrupted run's. (Under bf16 autocast the
same argument holds: same kernels, same order. What differs between runs is only wall-clock time.)

The moments are made exact, not raced: the interrupted run is `rnnlab.cli.main` in a child process with
one function wrapped to write a marker file and wait at the chosen moment (the Nth optimizer step, inside
the Nth checkpoint write between its temporary file and the rename, inside the bundle's file writes, inside
the bundle's swap, in the final evaluation); the test sends the signal once the marker is there. One more
case interrupts plain `python -m rnnlab train` as a user would, once its first checkpoint appears.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import rnnlab
from rnnlab.checkpoint import load_state
from rnnlab.cli import main
from tiny_intent import tiny_overrides, write_tiny_data

# 29 train examples / batch 6 -> 5 steps an epoch, 20 in all; a checkpoint every 3 steps and at each epoch's end,
# so the checkpoints hold (epoch, step) = (0, 3) (1, 0) (1, 1) (1, 4) (2, 0) (2, 2) (2, 5) (3, 0) (3, 3) (4, 0).
# Dropout on: a resume must restore the RNG states too
SETTINGS = dict(epochs=4, batch_size=6, checkpoint_every=3, threads=1)
EXTRA = ["model.dropout=0.2", "model.word_dropout=0.1", "--precision", "fp32", "--quiet"]

DRIVER = r'''
import os, sys, time
from pathlib import Path

moment, nth, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ready, calls = Path(os.environ["READY"]), [0]


def wait_here(seconds=60.0):
    """Say where we are, then wait for the test's signal (it interrupts the sleep, or is held and delivered)."""
    calls[0] += 1
    if calls[0] == nth:
        ready.write_text(moment)
        time.sleep(seconds)


import rnnlab.bundle as bundle
import rnnlab.training.loop as loop

if moment == "step":  # before the Nth optimizer step
    step = loop.Trainer.train_step
    loop.Trainer.train_step = lambda self, *a: (wait_here(), step(self, *a))[1]
elif moment == "checkpoint-write":  # the Nth checkpoint's temporary file written, not yet renamed over the old
    fsync = os.fsync
    def held_fsync(fd):
        if "/.checkpoint.safetensors." in os.readlink(f"/proc/self/fd/{fd}"):
            wait_here()
        fsync(fd)
    os.fsync = held_fsync
elif moment == "final-evaluation":  # evaluate() call N: after the last epoch's validation, the best weights scored
    evaluate = loop.evaluate
    loop.evaluate = lambda *a, **k: (wait_here(), evaluate(*a, **k))[1]
elif moment == "bundle-files":  # the bundle's Nth file is about to be written into its temporary directory
    write = bundle.atomic_write_bytes
    bundle.atomic_write_bytes = lambda *a: (wait_here(), write(*a))[1]
elif moment == "bundle-swap":  # the old bundle renamed aside, the new one not yet in: the signal is held
    rename = Path.rename
    def held_rename(self, target):
        out = rename(self, target)
        if Path(target).name == ".bundle.old":
            wait_here(1.5)
        return out
    Path.rename = held_rename

from rnnlab.cli import main
raise SystemExit(main(argv))
'''

# id, signal, moment, n, expected checkpoint position ((epoch, step) or None), bundle left (bool). A run
# starts afresh, except "finished" ones: a copy of the reference run (its bundle there) resumed at its end, so
# its bundle is written again over the one there (as after an interrupt in the final evaluation)
CASES = [
    ("sigterm-before-first-checkpoint", signal.SIGTERM, "step", 2, None, False),
    ("sigint-mid-epoch", signal.SIGINT, "step", 8, (1, 1), False),
    ("sigterm-mid-epoch", signal.SIGTERM, "step", 13, (2, 2), False),
    ("sigint-inside-a-checkpoint-write", signal.SIGINT, "checkpoint-write", 2, (0, 3), False),
    ("sigterm-inside-a-checkpoint-write", signal.SIGTERM, "checkpoint-write", 5, (1, 4), False),
    ("sigterm-in-final-evaluation", signal.SIGTERM, "final-evaluation", 5, (4, 0), False),
    ("sigint-writing-the-bundle", signal.SIGINT, "bundle-files", 3, (4, 0), False),
    ("finished-sigint-writing-the-bundle-over-one", signal.SIGINT, "bundle-files", 2, (4, 0), True),
    ("finished-sigterm-swapping-the-bundle-in", signal.SIGTERM, "bundle-swap", 1, (4, 0), True),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def reference(paths, tmp_path_factory):
    """The uninterrupted run (in this process: the same code and thread count as the children)."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", *tiny_overrides(paths, run_dir, **SETTINGS), *EXTRA]) == 0
    return run_dir


def figures(run_dir):
    """What a run ends with, less wall-clock times: the bundle's weights and metrics, metrics.jsonl."""
    weights = rnnlab.load(run_dir / "bundle").model.state_dict()
    metrics = json.loads((run_dir / "bundle" / "metrics.json").read_text())
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for record in [metrics, *lines]:
        record.pop("train_time_s", None)
    return weights, metrics, lines


def assert_nothing_half_written(run_dir):
    """The run directory holds only complete files: no temporaries, the checkpoint loadable or absent, the
    bundle loadable (checksums and all) or absent. Returns (the checkpoint's (epoch, step) or None, bundle?)."""
    leftovers = sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".old"))
    assert leftovers == [], leftovers
    checkpoint = run_dir / "checkpoint.safetensors"
    position = None
    if checkpoint.exists():
        state = load_state(checkpoint)
        position = (state["position"]["epoch"], state["position"]["step"])
    if (run_dir / "bundle").exists():
        rnnlab.load(run_dir / "bundle")  # raises if a file is missing, truncated or not the one listed
    return position, (run_dir / "bundle").exists()


def default_sigint():
    """In the child before exec: Ctrl-C as at a terminal. A shell that runs the suite in the background (`make test
    &`) starts it with SIGINT ignored, an ignored signal stays ignored across exec, and Python then never raises
    KeyboardInterrupt: the test would wait on a child that cannot hear it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(tmp_path, argv, sig, moment, n):
    """Run the driver child until it reaches the moment, send `sig`; its exit code and stderr."""
    driver, ready = tmp_path / "driver.py", tmp_path / "ready"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "READY": str(ready)}
    child = subprocess.Popen([sys.executable, str(driver), moment, str(n), *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env,
                             preexec_fn=default_sigint)
    deadline = time.time() + 60
    while not ready.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert ready.exists(), f"the run never reached {moment} #{n}: " + (child.stderr.read() if child.poll() else "")
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    return child.returncode, err


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_an_interrupt_leaves_complete_files_and_resume_ends_as_if_uninterrupted(
        paths, reference, tmp_path, capsys, case):
    name, sig, moment, n, position, bundle = case
    run_dir = tmp_path / "run"
    argv = ["train", *tiny_overrides(paths, run_dir, **SETTINGS), *EXTRA]
    if name.startswith("finished"):
        shutil.copytree(reference, run_dir)
        argv = ["train", "--resume", str(run_dir), "--quiet"]
    code, err = interrupt(tmp_path, argv, sig, moment, n)

    assert code == (130 if sig == signal.SIGINT else 143), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("rnnlab train: " + ("interrupted" if sig == signal.SIGINT else "terminated (SIGTERM)"))
    assert assert_nothing_half_written(run_dir) == (position, bundle)
    if position is None:
        assert f"no checkpoint was written to {run_dir} yet: start the run again" in err
        assert main(["train", "--resume", str(run_dir)]) == 1
        assert "no checkpoint to resume from" in capsys.readouterr().err
        return
    assert f"{run_dir} keeps its last complete checkpoint: continue with `rnnlab train --resume {run_dir}`" in err

    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert_nothing_half_written(run_dir)
    (w_ref, m_ref, lines_ref), (w_res, m_res, lines_res) = figures(reference), figures(run_dir)
    assert m_res == m_ref and lines_res == lines_ref  # exact: see the module docstring
    assert w_res.keys() == w_ref.keys() and all(torch.equal(w_res[k], w_ref[k]) for k in w_ref)


def test_ctrl_c_on_the_command_line_after_the_first_checkpoint(paths, reference, tmp_path):
    """As a user does it: `python -m rnnlab train ...`, Ctrl-C once a checkpoint is on disk (wherever the run
    then is), then --resume; the same figures."""
    run_dir = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "rnnlab", "train", *tiny_overrides(paths, run_dir, **SETTINGS),
                              *EXTRA], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=default_sigint)
    deadline = time.time() + 60
    while not (run_dir / "checkpoint.safetensors").exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    assert child.poll() is None, "the run ended before it could be interrupted: " + child.stderr.read()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err.count("\n") == 1 and "--resume" in err, err
    position, _ = assert_nothing_half_written(run_dir)
    assert position is not None
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    (w_ref, m_ref, lines_ref), (w_res, m_res, lines_res) = figures(reference), figures(run_dir)
    assert m_res == m_ref and lines_res == lines_ref
    assert all(torch.equal(w_res[k], w_ref[k]) for k in w_ref)


def test_leftovers_of_a_killed_run_are_removed_by_the_next(paths, reference, tmp_path):
    """SIGKILL cannot be handled: its temporaries stay until the next run in the directory removes them."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    (run_dir / ".checkpoint.safetensors.ab12.tmp").write_bytes(b"half")
    (run_dir / ".bundle.cd34.tmp").mkdir()
    (run_dir / ".bundle.cd34.tmp" / "model.safetensors").write_bytes(b"half")
    (run_dir / "notes.tmp").write_text("not ours: kept")
    assert main(["train", *tiny_overrides(paths, run_dir, **{**SETTINGS, "epochs": 1}), *EXTRA, "--force"]) == 0
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [".lock"]
    assert (run_dir / "notes.tmp").read_text() == "not ours: kept"


def test_a_swap_killed_between_its_renames_gets_the_previous_bundle_back(reference, tmp_path):
    """SIGKILL between `bundle -> .bundle.old` and `.bundle.tmp -> bundle`: the next look at the run directory
    puts the previous (complete) bundle back instead of deleting it."""
    from rnnlab.training.run_dir import remove_leftovers

    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    (run_dir / "bundle").rename(run_dir / ".bundle.old")
    (run_dir / ".bundle.ef56.tmp").mkdir()
    remove_leftovers(run_dir)
    assert rnnlab.load(run_dir / "bundle") is not None
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [".lock"]  # the run's lock file
