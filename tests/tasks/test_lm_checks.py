"""Language models: what used to end in a traceback ends in one line (or works).

A text too short for one sequence, a temperature that is not a finite number, an empty list to predict."""
from __future__ import annotations

from pathlib import Path

import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import DataError, UserError
from rnnlab.generate import generate, sample_text
from rnnlab.tasks.lm import CharLMData, CharLMTask, LMModelConfig, windows
from rnnlab.training import train

CHARLM_TOML = Path(__file__).resolve().parents[2] / "configs" / "charlm.toml"
TINY_MODEL = ["model.embed_size=4", "model.hidden_size=8", "model.num_layers=1", "train.epochs=1",
              "train.progress=false"]


def test_a_split_too_short_for_one_sequence_is_a_data_error(tmp_path):
    (tmp_path / "t.txt").write_text("abc")  # train "ab", valid "c": valid has no (input, next) pair
    task = CharLMTask(CharLMData(text=str(tmp_path / "t.txt"), bptt=128), LMModelConfig())
    assert len(task.read("train")) == 1
    with pytest.raises(DataError, match=r"t.txt: the valid split has 1 char\(s\): too short for the sequence length"):
        task.read("valid")


def test_charlm_dry_run_on_a_three_character_text_is_one_line(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("abc")
    code = main(["train", str(CHARLM_TOML), f"data.text={tmp_path / 't.txt'}", f"run_dir={tmp_path / 'run'}",
                 "--dry-run"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "too short for the sequence length" in err


def test_training_refuses_a_text_that_leaves_an_epoch_without_batches(tmp_path):
    """26 characters: one training window, one batch, but data.split_epochs = 2 wants two epochs per
    pass. Before, training 'finished' with 0 steps and a loss of 0; the check is in the task, so the
    trainer meets it, not only the dry run."""
    (tmp_path / "t.txt").write_text("abcdefghijklmnopqrstuvwxyz")
    cfg = load_config(None, ["task=charlm", f"run_dir={tmp_path / 'run'}", f"data.text={tmp_path / 't.txt'}",
                             "data.split_epochs=2", *TINY_MODEL])
    with pytest.raises(UserError, match="too short for the sequence length.*data.split_epochs = 2"):
        train(cfg, echo=None)
    cfg = load_config(None, ["task=charlm", f"run_dir={tmp_path / 'run1'}", f"data.text={tmp_path / 't.txt'}",
                             "data.split_epochs=1", *TINY_MODEL])
    assert train(cfg, echo=None)["epochs_run"] == 1  # one epoch per pass: the one batch is enough


def test_split_epochs_with_enough_batches_still_split():
    task = CharLMTask(CharLMData(bptt=4, split_epochs=3), LMModelConfig())
    feats = [{"ids": w} for w in windows(list(range(13)), 4)]  # 3 windows, batch size 1: 3 batches
    assert [len(task.batches(feats, 1, shuffle=True, epoch=e)) for e in range(3)] == [1, 1, 1]
    with pytest.raises(UserError, match="data.split_epochs = 3"):
        task.batches(feats, 2, shuffle=True, epoch=0)  # 2 batches for 3 epochs
    assert len(task.batches(feats, 2, shuffle=False)) == 2  # evaluation reads the whole split


@pytest.mark.parametrize("temperature", ["nan", "inf", "-inf", "-1"])
def test_generate_refuses_a_temperature_that_is_not_a_finite_number(char_bundle, temperature, capsys):
    assert main(["generate", str(char_bundle), f"--temperature={temperature}", "--length", "5"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed before the error
    assert captured.err.count("\n") == 1
    assert "temperature must be >= 0 (0 = always the most likely token) and a finite number" in captured.err
    with pytest.raises(UserError, match="temperature"):
        next(generate(rnnlab.load(char_bundle), "a", 5, temperature=float(temperature)))


def test_a_tiny_temperature_is_greedy_not_nan(char_bundle):
    pred = rnnlab.load(char_bundle)
    # logits / T used to overflow to inf, whose softmax is NaN (multinomial then raised): at 1e-37 in
    # float32, at 1e-300 already in the cast of T to float32 (0, so 0/0)
    greedy = sample_text(pred, "JULIET: O Rom", 10, temperature=0)
    for temperature in (1e-37, 1e-300):
        assert sample_text(pred, "JULIET: O Rom", 10, temperature=temperature, seed=0) == greedy


def test_predict_of_no_inputs_is_no_predictions(char_bundle):
    pred = rnnlab.load(char_bundle)
    assert pred.predict([]) == []
    with pytest.raises(UserError, match="no tokens"):
        pred.predict([""])  # an empty text is still an error
