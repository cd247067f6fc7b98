import json

import pytest

from rnnlab.config import TrainConfig, config_from_dict, load_config, to_dict, to_toml
from rnnlab.errors import UserError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_toml_and_overrides_fill_the_dataclasses(tmp_path):
    p = write(tmp_path, 'task = "intent"\n[model]\ncell = "gru"\n[train]\nepochs = 4\nlr = 1\n')
    cfg = load_config(p, ["train.lr=0.5", "model.hidden_size=7", "train.progress=false", "data.test=''"])
    assert cfg.model.cell == "gru" and cfg.model.hidden_size == 7
    assert cfg.train.epochs == 4 and cfg.train.lr == 0.5 and isinstance(cfg.train.lr, float)
    assert cfg.train.progress is False and cfg.data.test == ""
    assert cfg.train.batch_size == TrainConfig().batch_size  # untouched defaults stay


def test_int_is_widened_to_float_in_toml(tmp_path):
    cfg = load_config(write(tmp_path, 'task = "intent"\n[train]\nlr = 1\n'))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


@pytest.mark.parametrize("text, overrides, message", [
    ('task = "intent"\n[train]\nepochs = "ten"\n', [], "train.epochs must be int"),
    ('task = "intent"\n[model]\nhiden_size = 3\n', [], "unknown key model.hiden_size"),
    ('task = "intent"\n[train]\nepochs = true\n', [], "train.epochs must be int"),
    ('task = "nope"\n', [], "unknown task 'nope'"),
    ('[train]\nepochs = 1\n', [], "missing 'task'"),
    ('task = "intent"\n', ["train.epochs=x"], "train.epochs must be int"),
    ('task = "intent"\n', ["train.progress=maybe"], "train.progress must be bool"),
    ('task = "intent"\n', ["train.nothing=1"], "unknown key train.nothing"),
    ('task = "intent"\n', ["lr=1"], "unknown key lr; did you mean train.lr?"),
    ('task = "intent"\n', ["train.lr"], "expected key=value"),
    ('task = "intent"\nfoo = 1\n', [], "unknown key foo"),
    ('task = "intent"\n[train\n', [], "not valid TOML"),
])
def test_errors_name_the_key_and_file(tmp_path, text, overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        load_config(write(tmp_path, text), overrides)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_round_trip_through_json_and_toml(tmp_path):
    cfg = load_config(write(tmp_path, 'task = "intent"\nrun_dir = "r"\n[model]\ncell = "gru"\n'), ["train.seed=3"])
    assert config_from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg
    assert load_config(write(tmp_path, to_toml(cfg))) == cfg


def test_shipped_demo_config_matches_the_demo_verb():
    from pathlib import Path

    from rnnlab.cli.demo import DEMO_OVERRIDES

    root = Path(__file__).resolve().parent.parent
    shipped = load_config(root / "configs" / "demo.toml")
    demo = load_config(None, DEMO_OVERRIDES + [f"run_dir={shipped.run_dir}"])
    assert to_dict(shipped) == to_dict(demo)


# ---- renamed keys (Task.RENAMED): saved configs migrate, configs users write name the new key ----------

OLD_JOINT = {"task": "intent_slots", "run_dir": "r", "data": {"train": "t"},
             "model": {"word_dim": 16, "hidden": 12, "layers": 1, "min_count": 2, "cell": "gru"}}


def test_a_saved_config_with_old_names_is_migrated():
    cfg = config_from_dict(OLD_JOINT, "config.json", migrate=True)
    m = cfg.model
    assert (m.embed_size, m.hidden_size, m.num_layers, m.cell) == (16, 12, 1, "gru")
    assert cfg.data.min_count == 2 and cfg.data.train == "t"  # moved to [data], where intent and wordlm have it
    assert "word_dim" in OLD_JOINT["model"] and "min_count" not in OLD_JOINT["data"]  # the input is not changed
    assert to_dict(cfg)["model"].keys().isdisjoint({"word_dim", "hidden", "layers", "min_count"})


@pytest.mark.parametrize("old, new", [("word_dim", "embed_size"), ("hidden", "hidden_size"),
                                      ("layers", "num_layers"), ("min_count", None)])
def test_an_old_name_the_user_writes_names_the_new_one(tmp_path, old, new):
    new = f"model.{new}" if new else "data.min_count"
    with pytest.raises(UserError, match=f"c.toml: model.{old} was renamed to {new}$"):
        load_config(write(tmp_path, f'task = "intent_slots"\n[model]\n{old} = 2\n'))
    with pytest.raises(UserError, match=f"override model.{old}=2: model.{old} was renamed to {new}$"):
        load_config(None, ["task=intent_slots", f"model.{old}=2"])
    with pytest.raises(UserError, match="was renamed"):
        config_from_dict(OLD_JOINT)  # migrate defaults to False: only rnnlab's own saved configs migrate


def test_old_and_new_name_together_is_refused_even_when_migrating():
    raw = {**OLD_JOINT, "model": {"word_dim": 16, "embed_size": 16}}
    with pytest.raises(UserError, match="both model.word_dim and model.embed_size are set"):
        config_from_dict(raw, migrate=True)


def test_a_run_directory_saved_with_old_names_still_loads(tmp_path):
    from rnnlab.training import load_run_config

    (tmp_path / "config.json").write_text(json.dumps(OLD_JOINT))
    cfg = load_run_config(tmp_path)
    assert cfg.model.embed_size == 16 and cfg.data.min_count == 2 and cfg.run_dir == str(tmp_path)
