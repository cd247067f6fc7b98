"""Small data: the recipe resized for it (rnnlab.training.adapt), stopping counted in steps, the plateau rule,
the one-line warnings, and the last line saying why a run stopped."""
import json

import pytest

from rnnlab.config import load_config
from rnnlab.training import Trainer, train
from rnnlab.training.adapt import MIN_BATCH, MIN_STEPS_PER_EPOCH, adapted_batch_size
from tiny_intent import tiny_overrides, write_tiny_data


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def run(paths, run_dir, *extra, echo=None, **train_values):
    cfg = load_config(None, tiny_overrides(paths, run_dir, **train_values) + list(extra))
    return train(cfg, echo=echo)


@pytest.mark.parametrize("batch, n, expected", [(32, 10_000, 32), (32, 256, 32), (32, 255, 31), (32, 27, 4),
                                                (32, 3, 4), (8, 40, 5), (2, 5, 2)])
def test_batch_rule(batch, n, expected):
    assert adapted_batch_size(batch, n) == expected
    assert adapted_batch_size(expected, n) == expected  # idempotent: a resumed run gets the same batch
    assert expected <= batch and (expected >= MIN_BATCH or expected == batch)
    if n >= batch * MIN_STEPS_PER_EPOCH:
        assert expected == batch  # a large set keeps its recipe


def test_small_data_gets_a_smaller_batch_recorded_in_the_config(paths, tmp_path):
    lines = []
    summary = run(paths, tmp_path / "r", echo=lines.append, epochs=2, batch_size=32, adapt="true")
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    n_train = int(next(line for line in lines if line.startswith("task ")).split(": ")[1].split()[0])
    assert [32, saved["batch_size"]] == summary["adapted"]["train.batch_size"]
    assert saved["batch_size"] == adapted_batch_size(32, n_train) < 32
    assert any(line.startswith(f"adapted to {n_train} training examples: train.batch_size 32 -> ") for line in lines)
    bundle_cfg = json.loads((tmp_path / "r" / "bundle" / "config.json").read_text())
    assert bundle_cfg["train"]["batch_size"] == saved["batch_size"]
    # train.adapt=false keeps the config's values
    summary = run(paths, tmp_path / "off", epochs=2, batch_size=32, adapt="false")
    assert summary["adapted"] == {} and summary["steps_run"] == 2  # one batch an epoch
    assert json.loads((tmp_path / "off" / "config.json").read_text())["train"]["batch_size"] == 32


def test_min_steps_adds_epochs_and_warmup_fits_the_run(paths, tmp_path):
    summary = run(paths, tmp_path / "r", epochs=1, batch_size=32, adapt="true", min_steps=40, warmup_steps=500)
    assert summary["steps_run"] >= 40
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert saved["epochs"] == summary["epochs_run"] > 1
    assert saved["warmup_steps"] == int(0.1 * summary["steps_run"])


def scripted(monkeypatch, values):
    """Trainer._validate answers these valid accuracies, epoch by epoch (valid loss constant)."""
    def fake(self, epoch, record):
        value = values[min(epoch, len(values) - 1)]
        record.update({"valid_accuracy": value, "valid_loss": 1.0})
        return value
    monkeypatch.setattr(Trainer, "_validate", fake)


PLATEAU_THEN_LEARN = [0.3] * 6 + [0.5, 0.7] + [0.7] * 20  # 6 epochs on the start, then it learns


def test_plateau_rule_waits_for_the_first_improvement(paths, tmp_path, monkeypatch):
    scripted(monkeypatch, PLATEAU_THEN_LEARN)
    lines = []
    summary = run(paths, tmp_path / "wait", echo=lines.append, epochs=20, patience=2, adapt="false")
    # 6 epochs on the plateau count for nothing; best at 8, two epochs without improvement: stop at 10
    assert summary["best_epoch"] == 8 and summary["epochs_run"] == 10 and summary["stopped_early"]
    assert summary["stop_reason"].startswith("early stop: valid_accuracy no better for 2 epochs")
    last = lines[-1]
    assert last.startswith("bundle: ") and "early stop: valid_accuracy no better for 2 epochs" in last \
        and "best epoch 8" in last
    # without the rule the plateau ends the run before the model learns anything
    summary = run(paths, tmp_path / "nowait", epochs=20, patience=2, plateau_wait="false", adapt="false")
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 3


def test_a_run_that_never_leaves_its_plateau_runs_its_epochs_and_says_so(paths, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.3] * 30)
    lines = []
    summary = run(paths, tmp_path / "r", echo=lines.append, epochs=7, patience=2, adapt="false")
    assert summary["epochs_run"] == 7 and not summary["stopped_early"]
    assert summary["stop_reason"] == "all 7 epochs run" and "all 7 epochs run" in lines[-1]


def test_patience_counts_steps_too(paths, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.3, 0.5] + [0.5] * 40)
    # batch 8 on the tiny set: a few steps an epoch; patience 1 epoch would stop at epoch 3, but 20 steps
    # without improvement are asked for as well
    summary = run(paths, tmp_path / "r", epochs=40, patience=1, patience_steps=20, batch_size=8, adapt="false")
    per_epoch = summary["steps_run"] / summary["epochs_run"]
    assert summary["stopped_early"] and summary["best_epoch"] == 2
    assert summary["epochs_run"] == 2 + -(-20 // int(per_epoch))
    assert summary["steps_run"] - 2 * per_epoch >= 20


def test_min_steps_holds_off_early_stopping(paths, tmp_path, monkeypatch):
    scripted(monkeypatch, [0.3, 0.5] + [0.5] * 40)
    summary = run(paths, tmp_path / "r", epochs=40, patience=1, min_steps=30, batch_size=8, adapt="false")
    assert summary["stopped_early"] and summary["steps_run"] >= 30
    per_epoch = summary["steps_run"] / summary["epochs_run"]
    assert summary["steps_run"] - per_epoch < 30  # it stopped at the first epoch end past min_steps


def test_tie_on_the_metric_goes_to_the_lower_valid_loss(paths, tmp_path, monkeypatch):
    losses = [2.0, 1.0, 0.5, 0.7, 0.4, 0.6]

    def fake(self, epoch, record):
        record.update({"valid_accuracy": 1.0, "valid_loss": losses[epoch]})
        return 1.0
    monkeypatch.setattr(Trainer, "_validate", fake)
    summary = run(paths, tmp_path / "r", epochs=6, adapt="false")
    assert summary["best_epoch"] == 5


def test_warns_when_valid_is_too_small_naming_the_setting(paths, tmp_path):
    lines = []
    run(paths, tmp_path / "r", echo=lines.append, epochs=1)  # valid_fraction 0.2 of 36 rows: 7 examples
    warning = [line for line in lines if line.startswith("warning: ")]
    assert len(warning) == 1 and "validation examples (fewer than 20)" in warning[0] \
        and "data.valid_fraction" in warning[0]
    lines = []
    run(paths, tmp_path / "none", "data.valid_fraction=0.0", echo=lines.append, epochs=1, patience=3)
    warning = [line for line in lines if line.startswith("warning: ")]
    assert len(warning) == 1 and "no validation examples" in warning[0] and "train.patience = 3" in warning[0]
