"""Every task checks its model (and data) config when it is constructed: a bad value is one line naming
the key, from the Python API, from `rnnlab train`, and from a hand-edited bundle, never a torch traceback."""
import json
import math

import pytest

from rnnlab.bundle import load
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.tasks.intent import IntentData, IntentModelConfig, IntentTask
from rnnlab.tasks.joint import JointData, JointModelConfig, JointTask
from rnnlab.tasks.lm import CharLMData, CharLMTask, LMModelConfig, WordLMData, WordLMTask
from rnnlab.training import train
from tiny_intent import tiny_overrides, write_tiny_data

pytestmark = pytest.mark.usefixtures("one_thread")

RECURRENT_BAD = [  # (key, value, message) shared by the intent and language-model configs
    ("hidden_size", -5, "model.hidden_size must be >= 1, got -5"),
    ("hidden_size", 0, "model.hidden_size must be >= 1, got 0"),
    ("hidden_size", True, "model.hidden_size must be an int, got bool True"),
    ("embed_size", 0, "model.embed_size must be >= 1, got 0"),
    ("num_layers", 0, "model.num_layers must be >= 1, got 0"),
    ("dropout", 1.5, r"model.dropout must be in \[0, 1\), got 1.5"),
    ("dropout", -0.1, r"model.dropout must be in \[0, 1\), got -0.1"),
    ("dropout", math.nan, r"model.dropout must be in \[0, 1\), got nan"),
    ("engine", "foo", "model.engine must be one of fused, glass, native, auto, got 'foo'"),
    ("cell", "foo", "model.cell must be one of"),
]
INTENT_BAD = RECURRENT_BAD + [("word_dropout", 2.0, r"model.word_dropout must be in \[0, 1\), got 2.0")]
LM_BAD = RECURRENT_BAD + [("embed_dropout", 1.0, r"model.embed_dropout must be in \[0, 1\), got 1.0")]
JOINT_BAD = [
    ("num_layers", 0, "model.num_layers must be >= 1, got 0"),
    ("hidden_size", -5, "model.hidden_size must be >= 1, got -5"),
    ("embed_size", 0, "model.embed_size must be >= 1, got 0"),
    ("char_dim", 0, "model.char_dim must be >= 1"),
    ("char_filters", 0, "model.char_filters must be >= 1"),
    ("char_width", 0, "model.char_width must be >= 1"),
    ("max_word_chars", 0, "model.max_word_chars must be >= 1"),
    ("members", 0, "model.members must be >= 1"),
    ("causal_weight", -1.0, "model.causal_weight must be a finite number >= 0, got -1.0"),
    ("causal_weight", math.inf, "model.causal_weight must be a finite number >= 0, got inf"),
    ("dropout", 1.5, r"model.dropout must be in \[0, 1\)"),
    ("word_dropout", 2.0, r"model.word_dropout must be in \[0, 1\)"),
    ("singleton_dropout", 1.0, r"model.singleton_dropout must be in \[0, 1\)"),
    ("intent_smoothing", -0.5, r"model.intent_smoothing must be in \[0, 1\)"),
    ("cell", "foo", "model.cell must be one of rnn_tanh, rnn_relu, lstm, gru"),
]


@pytest.mark.parametrize("key, value, message", INTENT_BAD, ids=[f"{k}={v}" for k, v, _ in INTENT_BAD])
def test_intent_model_config_is_checked_at_construction(key, value, message):
    with pytest.raises(UserError, match=message):
        IntentTask(IntentData(), IntentModelConfig(**{key: value}))


@pytest.mark.parametrize("task_cls, data_cls", [(CharLMTask, CharLMData), (WordLMTask, WordLMData)])
@pytest.mark.parametrize("key, value, message", LM_BAD, ids=[f"{k}={v}" for k, v, _ in LM_BAD])
def test_lm_model_config_is_checked_at_construction(task_cls, data_cls, key, value, message):
    with pytest.raises(UserError, match=message):
        task_cls(data_cls(), LMModelConfig(**{key: value}))


def test_lm_embed_dropout_below_zero_still_means_as_dropout():
    CharLMTask(CharLMData(), LMModelConfig(embed_dropout=-1.0))  # the default: no error


@pytest.mark.parametrize("key, value, message", JOINT_BAD, ids=[f"{k}={v}" for k, v, _ in JOINT_BAD])
def test_joint_model_config_is_checked_at_construction(key, value, message):
    with pytest.raises(UserError, match=message):
        JointTask(JointData(), JointModelConfig(**{key: value}))


def test_negative_min_count_and_max_tokens_are_refused():
    with pytest.raises(UserError, match="data.min_count must be >= 0, got -1"):
        IntentTask(IntentData(min_count=-1), IntentModelConfig())
    with pytest.raises(UserError, match="data.max_tokens must be >= 1, got 0"):
        IntentTask(IntentData(max_tokens=0), IntentModelConfig())
    with pytest.raises(UserError, match="data.min_count must be >= 0, got -1"):
        WordLMTask(WordLMData(min_count=-1), LMModelConfig())
    with pytest.raises(UserError, match="data.min_count must be >= 0, got -1"):
        JointTask(JointData(min_count=-1), JointModelConfig())


@pytest.mark.parametrize("task, override, message", [
    ("intent", "model.hidden_size=-5", "model.hidden_size must be >= 1, got -5"),
    ("intent", "model.embed_size=0", "model.embed_size must be >= 1, got 0"),
    ("intent", "model.engine=foo", "model.engine must be one of fused, glass, native, auto, got 'foo'"),
    ("intent", "model.word_dropout=2", "model.word_dropout must be in [0, 1), got 2.0"),
    ("intent", "data.min_count=-1", "data.min_count must be >= 0, got -1"),
    ("charlm", "model.num_layers=0", "model.num_layers must be >= 1, got 0"),
    ("wordlm", "model.dropout=1.5", "model.dropout must be in [0, 1), got 1.5"),
    ("intent_slots", "model.num_layers=0", "model.num_layers must be >= 1, got 0"),
    ("intent_slots", "data.min_count=-1", "data.min_count must be >= 0, got -1"),
    ("intent_slots", "model.word_dim=16", "override model.word_dim=16: model.word_dim was renamed to model.embed_size"),
    ("intent_slots", "model.min_count=2", "override model.min_count=2: model.min_count was renamed to data.min_count"),
    ("intent_slots", "model.causal_weight=-1", "model.causal_weight must be a finite number >= 0, got -1.0"),
])
def test_train_reports_a_bad_config_in_one_line(tmp_path, capsys, task, override, message):
    assert main(["train", f"task={task}", f"run_dir={tmp_path / 'run'}", override, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err == f"rnnlab train: error: {message}\n"  # one line, no traceback


@pytest.fixture(scope="module")
def intent_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("intent_checks")
    cfg = load_config(None, tiny_overrides(write_tiny_data(root / "data"), root / "run", epochs=1))
    train(cfg, echo=None)
    return root / "run" / "bundle"


def test_hand_edited_bundle_config_fails_in_one_line(intent_bundle, tmp_path, capsys):
    import shutil

    edited = tmp_path / "bundle"
    shutil.copytree(intent_bundle, edited)
    config = json.loads((edited / "config.json").read_text())
    config["model"]["engine"] = "foo"  # config.json is not in its own checksum manifest: a plausible edit
    (edited / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="model.engine must be one of fused, glass, native, auto, got 'foo'"):
        load(edited)
    assert main(["predict", str(edited), "what time is it"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.engine must be one of fused, glass, native, auto" in err


def test_intent_predict_of_no_inputs_is_no_predictions(intent_bundle):
    predictor = load(intent_bundle)
    assert predictor.predict([]) == []
    assert predictor.task.predict(predictor.model, []) == []
    assert len(predictor.predict(["what time is it"])) == 1
