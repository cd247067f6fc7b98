"""Nothing a user made is lost, and wrong results do not pass silently: the trainer's and the writing
verbs' guards (run-directory lock, resume after a torn line or with a foreign checkpoint, --force,
divergence, full disk, file modes)."""
import errno
import json
import os
import stat

import pytest

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.training import RunLock, train
from tiny_intent import tiny_overrides, write_tiny_data


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def bundles(paths, tmp_path_factory):
    """Two trained runs (seeds 0 and 1); their bundles are RUN/bundle."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        train(load_config(None, tiny_overrides(paths, root / f"s{seed}", epochs=1, seed=seed)), echo=None)
    return root


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- the run directory ------------------------------------------------------------------------------

def test_a_second_training_into_a_busy_run_directory_is_refused(paths, tmp_path):
    run_dir = tmp_path / "r"
    lock = RunLock(run_dir)  # what a training run in another process holds
    try:
        with pytest.raises(UserError, match=r"is in use by another training run \(pid \d+\)"):
            train(load_config(None, tiny_overrides(paths, run_dir, epochs=1)), echo=None, overwrite=True)
    finally:
        lock.release()
    train(load_config(None, tiny_overrides(paths, run_dir, epochs=1)), echo=None)  # free again: trains
    assert (run_dir / "bundle" / "config.json").exists()


def test_resume_recovers_a_torn_last_metrics_line(paths, tmp_path, capsys):
    run_dir = tmp_path / "r"
    train(load_config(None, tiny_overrides(paths, run_dir, epochs=2)), echo=None)
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    # a crash while epoch 2's line was being written: half a line, and the checkpoint of epoch 1
    metrics.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["train"]["epochs"] = 3  # resume continues after the checkpoint's epoch (2): one more epoch
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == [1, 3]  # the torn line is dropped, the resumed epoch appended; every line parses


def test_resume_with_another_runs_checkpoint_says_so(paths, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    train(load_config(None, tiny_overrides(paths, a, epochs=1)), echo=None)
    train(load_config(None, tiny_overrides(paths, b, epochs=1) + ["model.hidden_size=20"]), echo=None)
    (a / "checkpoint.safetensors").write_bytes((b / "checkpoint.safetensors").read_bytes())
    assert main(["train", "--resume", str(a)]) == 1
    assert "does not fit this run's config.json (from another run?)" in one_line_error(capsys)


def test_resume_on_a_bundle_points_at_its_run_directory(bundles, capsys):
    assert main(["train", "--resume", str(bundles / "s0" / "bundle")]) == 1
    err = one_line_error(capsys)
    assert "is a model bundle, not a run directory" in err and str(bundles / "s0") in err


def test_a_full_disk_is_one_line_and_the_earlier_files_stay(paths, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "r"
    argv = ["train", *tiny_overrides(paths, run_dir, epochs=3)]
    import rnnlab.training.loop as trainer

    real, calls = trainer.save_state, []

    def fills_up(path, state):  # the second checkpoint write finds the disk full
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, state)

    monkeypatch.setattr(trainer, "save_state", fills_up)
    assert main(argv) == 1
    err = one_line_error(capsys)
    assert "No space left on device" in err and "--resume" in err
    monkeypatch.setattr(trainer, "save_state", real)
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0  # what was written before is usable
    assert [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()][-1] == 3


# ---- wrong results ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lr", ["1e4", "1e30"])
def test_a_diverging_run_stops_with_one_line_and_saves_no_bundle(paths, tmp_path, capsys, lr):
    run_dir = tmp_path / "r"
    argv = ["train", *tiny_overrides(paths, run_dir, epochs=5, lr=lr, clip_norm=0.0, schedule="constant")]
    assert main(argv) == 1
    assert "training diverged" in one_line_error(capsys)
    assert not (run_dir / "bundle").exists()


@pytest.mark.parametrize("override, message", [
    ("train.lr=inf", "train.lr must be a finite number > 0"),
    ("train.lr=nan", "train.lr must be a finite number > 0"),
    ("train.weight_decay=-1", "train.weight_decay must be a finite number >= 0"),
    ("train.threads=-1", "train.threads must be >= 1, or 0"),
    ("train.max_minutes=-1", "train.max_minutes must be >= 0"),
    ("train.seed=-1", "train.seed must be an integer in 0"),
    ("train.precision=fp16", "train.precision must be auto, fp32 or bf16"),
])
def test_bad_train_settings_are_refused_in_one_line(paths, tmp_path, capsys, override, message):
    assert main(["train", *tiny_overrides(paths, tmp_path / "r"), override]) == 1
    assert message in one_line_error(capsys)
    assert not (tmp_path / "r" / "checkpoint.safetensors").exists()


def test_non_finite_weights_are_never_saved(bundles, tmp_path):
    import rnnlab
    from rnnlab.bundle import save_bundle

    p = rnnlab.load(bundles / "s0" / "bundle")
    next(p.model.parameters()).data[0] = float("nan")
    with pytest.raises(UserError, match="non-finite weights"):
        save_bundle(tmp_path / "b", p.task, p.model, p.config, p.metrics)
    assert not (tmp_path / "b").exists()


# ---- verbs that write ---------------------------------------------------------------------------

def test_ensemble_never_replaces_what_it_did_not_make(bundles, tmp_path, capsys):
    s0, s1 = bundles / "s0" / "bundle", bundles / "s1" / "bundle"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for out, why in ((mine, "already exists"), (s0, "would replace the input bundle"),
                     (bundles / "s0", "would replace the input bundle")):
        assert main(["ensemble", str(out), str(s0), str(s1)]) == 1
        assert why in one_line_error(capsys)
    assert main(["ensemble", str(mine), str(s0), str(s1), "--force"]) == 1
    assert "is not an rnnlab bundle" in one_line_error(capsys)
    assert (mine / "notes.txt").read_text() == "my notes"
    assert (bundles / "s0" / "checkpoint.safetensors").exists() and (s0 / "model.safetensors").exists()

    assert main(["ensemble", str(tmp_path / "e2"), str(s0), str(s1), "--splits", "bogus"]) == 1
    assert "unknown split 'bogus'" in one_line_error(capsys)


def test_demo_replaces_only_an_earlier_demo_run(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 1
    assert "not an earlier demo run" in one_line_error(capsys)
    assert (out / "mine.txt").read_text() == "keep me"
    fresh = tmp_path / "demo"
    assert main(["demo", "--out", str(fresh), "--epochs", "1"]) == 0
    assert main(["demo", "--out", str(fresh), "--epochs", "1"]) == 0  # `make demo` twice
    capsys.readouterr()


def test_bundles_and_checkpoints_follow_the_umask(paths, tmp_path):
    old = os.umask(0o022)
    try:
        train(load_config(None, tiny_overrides(paths, tmp_path / "r", epochs=1)), echo=None)
    finally:
        os.umask(old)
    run_dir = tmp_path / "r"
    assert stat.S_IMODE((run_dir / "bundle").stat().st_mode) == 0o755
    for path in [run_dir / "checkpoint.safetensors", run_dir / "bundle" / "model.safetensors",
                 run_dir / "bundle" / "config.json", run_dir / "metrics.jsonl"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ---- the command line ---------------------------------------------------------------------------

def test_overrides_after_a_flag_are_overrides(paths, tmp_path, capsys):
    assert main(["train", *tiny_overrides(paths, tmp_path / "r"), "--print-config", "model.cell=gru"]) == 0
    assert 'cell = "gru"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["train", *tiny_overrides(paths, tmp_path / "r"), "--print-config", "--bogus"])
    assert exit_.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_plain_rnnlab_prints_the_verbs_and_succeeds(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out
