import json

import pytest

from hardware import native_bf16_only
from rnnlab.config import TrainConfig, load_config
from rnnlab.errors import UserError
from rnnlab.training import lr_factor, train
from tiny_intent import tiny_overrides, write_tiny_data


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def run(paths, run_dir, *extra, **train_values):
    cfg = load_config(None, tiny_overrides(paths, run_dir, **train_values) + list(extra))
    return train(cfg, echo=None)


def test_learns_and_logs_one_line_per_epoch(paths, tmp_path):
    summary = run(paths, tmp_path / "r", epochs=8, lr=0.03)
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, 9))
    assert lines[-1]["train_loss"] < lines[0]["train_loss"] * 0.5
    assert {"valid_accuracy", "valid_loss", "lr", "step"} <= set(lines[0])
    assert summary["test"]["accuracy"] >= 2 / 3
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["epochs"] == 8


def test_same_seed_same_result_other_seed_differs(paths, tmp_path):
    extra = ("model.dropout=0.2", "model.word_dropout=0.1")
    a = run(paths, tmp_path / "a", *extra)
    b = run(paths, tmp_path / "b", *extra)
    c = run(paths, tmp_path / "c", *extra, seed=1)
    assert a["valid"] == b["valid"] and a["test"] == b["test"]
    assert a["test"]["loss"] != c["test"]["loss"]


def test_early_stopping_keeps_the_best_epoch(paths, tmp_path):
    # lr so small that nothing improves after the first epoch's model is saved
    summary = run(paths, tmp_path / "r", "train.metric=loss", epochs=30, patience=2, lr=1e-3, schedule="constant")
    assert summary["epochs_run"] < 30 or summary["best_epoch"] == 30
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    best = min(lines, key=lambda r: r["valid_loss"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["valid"]["loss"] == pytest.approx(best["valid_loss"], rel=1e-6)


def test_early_stop_triggers(paths, tmp_path, monkeypatch):
    # scripted valid figures (a real tiny run may tie at accuracy 1.0 while its loss keeps falling, which is
    # improvement by the tie rule): better at epoch 2, then worse; patience 1 ends it at epoch 3
    from rnnlab.training import Trainer

    def fake(self, epoch, record):
        value = [0.3, 0.6][epoch] if epoch < 2 else 0.5
        record.update({"valid_accuracy": value, "valid_loss": 1.0})
        return value
    monkeypatch.setattr(Trainer, "_validate", fake)
    summary = run(paths, tmp_path / "r", epochs=40, patience=1, lr=0.05)
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 2


@native_bf16_only
def test_bf16_autocast_trains(paths, tmp_path):
    summary = run(paths, tmp_path / "r", epochs=4, precision="bf16")
    assert summary["test"]["loss"] == summary["test"]["loss"]  # finite, not NaN
    assert summary["valid"]["accuracy"] > 0.3


def test_refuses_to_overwrite_a_run_and_resume_needs_a_checkpoint(paths, tmp_path):
    run(paths, tmp_path / "r", epochs=1)
    with pytest.raises(UserError, match="already holds a training run"):
        run(paths, tmp_path / "r", epochs=1)
    cfg = load_config(None, tiny_overrides(paths, tmp_path / "empty"))
    with pytest.raises(UserError, match="no checkpoint to resume"):
        train(cfg, resume=True, echo=None)


@pytest.mark.parametrize("bad, message", [("train.epochs=0", "epochs"), ("train.schedule=step", "schedule"),
                                          ("train.precision=fp16", "precision"), ("train.metric=bleu", "bleu")])
def test_bad_train_settings(paths, tmp_path, bad, message):
    with pytest.raises(UserError, match=message):
        run(paths, tmp_path / "r", bad)


def test_lr_schedule_shapes():
    tc = TrainConfig(schedule="cosine", warmup_steps=10)
    assert lr_factor(tc, 0, 110) == pytest.approx(0.1)
    assert lr_factor(tc, 9, 110) == pytest.approx(1.0)
    assert lr_factor(tc, 60, 110) == pytest.approx(0.5)
    assert lr_factor(tc, 110, 110) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(TrainConfig(schedule="linear"), 50, 100) == pytest.approx(0.5)
    assert lr_factor(TrainConfig(schedule="constant"), 77, 100) == 1.0
