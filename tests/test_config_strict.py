"""A config the run would not follow is refused in one line (issue 31): an unknown key names where it came
from and the nearest valid key, a bad value names the key, and an override that the chosen settings never
read (Task.ignored_keys) is an error, not a silent no-op."""
import pytest

from rnnlab.cli import main

FILES = {  # config files a row may name as "{name}"; written into tmp_path
    "typo_in_table": 'task = "intent"\n[model]\nhiden_size = 3\n',
    "key_outside_table": 'task = "intent"\nhidden_size = 3\n',
    "table_typo": 'task = "intent"\n[modle]\ncell = "gru"\n',
    "table_is_value": 'task = "intent"\nmodel = 3\n',
    "wrong_type": 'task = "intent"\n[train]\nepochs = "ten"\n',
    "too_big_int": 'task = "intent"\n[train]\nepochs = 99999999999999999999\n',
}

# id, argv after `train`, expected exit code, expected substrings of the one line (in order of appearance)
CASES = [
    # unknown keys: where (the override or the file) and the nearest valid key
    ("override-typo", ["configs/demo.toml", "model.hiden_size=8"], 1,
     ["override model.hiden_size=8: unknown key model.hiden_size; did you mean model.hidden_size?"]),
    ("override-train-typo", ["configs/demo.toml", "train.lrr=0.1"], 1,
     ["override train.lrr=0.1: unknown key train.lrr; did you mean train.lr?"]),
    ("override-wrong-section", ["configs/demo.toml", "model.lr=0.1"], 1,
     ["unknown key model.lr; did you mean train.lr?"]),
    ("override-section-typo", ["configs/demo.toml", "modle.cell=gru"], 1, ["did you mean model.cell?"]),
    ("override-unknown-section", ["configs/demo.toml", "foo.bar=1"], 1, ["override foo.bar=1: unknown key foo.bar"]),
    ("override-no-section", ["configs/demo.toml", "lr=1"], 1, ["unknown key lr; did you mean train.lr?"]),
    ("toml-typo", ["{typo_in_table}"], 1, ["typo_in_table.toml: unknown key model.hiden_size; did you mean "
                                           "model.hidden_size?"]),
    ("toml-key-outside-table", ["{key_outside_table}"], 1,
     ["unknown key hidden_size; did you mean model.hidden_size?"]),
    ("toml-table-typo", ["{table_typo}"], 1, ["table_typo.toml: unknown key modle; did you mean model?"]),
    ("toml-table-is-value", ["{table_is_value}"], 1, ["[model] must be a table"]),
    ("task-typo", ["configs/demo.toml", "task=inten"], 1, ["unknown task 'inten'; did you mean intent?"]),
    # bad values
    ("override-wrong-type", ["configs/demo.toml", "model.hidden_size=abc"], 1,
     ["override model.hidden_size=abc: model.hidden_size must be int"]),
    ("toml-wrong-type", ["{wrong_type}"], 1, ["wrong_type.toml: train.epochs must be int, got str 'ten'"]),
    ("override-int-overflow", ["configs/demo.toml", "model.hidden_size=99999999999999999999"], 1,
     ["model.hidden_size is out of range (a 64-bit integer)"]),
    ("toml-int-overflow", ["{too_big_int}"], 1,
     ["too_big_int.toml: train.epochs = 99999999999999999999 is out of range"]),
    ("negative-size", ["configs/demo.toml", "model.hidden_size=-3"], 1, ["model.hidden_size must be >= 1, got -3"]),
    ("zero-batch", ["configs/demo.toml", "train.batch_size=0"], 1, ["train.batch_size and train.eval_batch_size "
                                                                    "must be >= 1"]),
    ("bad-rate", ["configs/demo.toml", "model.dropout=2"], 1, ["model.dropout must be in [0, 1), got 2.0"]),
    # overrides the chosen settings never read
    ("intent-valid-fraction", ["configs/demo.toml", "data.valid=v.jsonl", "data.valid_fraction=0.3"], 1,
     ["override data.valid_fraction=0.3: data.valid_fraction is not read: data.valid names the validation file"]),
    ("logs-valid-fraction", ["configs/hdfs.toml", "data.valid=v.txt", "data.valid_fraction=0.3"], 1,
     ["data.valid_fraction is not read"]),
    ("translate-word-subword-type", ["configs/multi30k.toml", "data.tokenizer=word", "data.subword_type=bpe"], 1,
     ['data.subword_type is not read: data.tokenizer = "word" learns no subwords']),
    ("calls-head-chunk-size", ["configs/malapi.toml", "data.strategy=head", "data.chunk_size=10"], 1,
     ["data.chunk_size is not read: data.strategy = 'head' reads no chunks"]),
    ("calls-chunks-max-calls", ["configs/malapi.toml", "data.max_calls=10"], 1, ["data.max_calls is not read"]),
    ("calls-fold-without-folds", ["configs/malapi.toml", "data.folds=0", "data.fold=1"], 1,
     ["data.fold is not read: data.folds = 0 makes no folds"]),
    ("forecast-linear-hidden-size", ["configs/ett.toml", "model.arch=nlinear", "model.hidden_size=8"], 1,
     ["model.hidden_size is not read: model.arch = 'nlinear' has no hidden_size"]),
    ("forecast-rnn-segment", ["configs/ett.toml", "model.arch=rnn", "model.segment=12"], 1,
     ["model.segment is not read"]),
    ("forecast-quantile-loss", ["configs/sp500.toml", "model.head=quantile", "model.loss=mae"], 1,
     ["model.loss is not read: model.head = 'quantile' has its own loss"]),
    ("forecast-fraction-with-rows", ["configs/ett.toml", "data.train_fraction=0.5"], 1,
     ["data.train_fraction is not read: data.train_rows > 0 splits by row counts"]),
    # what stays allowed: an ignored override at its default, a file keeping an alternative's settings
    ("override-at-default", ["configs/demo.toml", "data.valid=v.jsonl", "data.valid_fraction=0.1"], 0, ["[data]"]),
    ("file-keeps-alternatives", ["configs/malapi.toml", "data.chunk_size=10"], 0, ["chunk_size = 10"]),
    ("override-read-by-new-setting", ["configs/malapi.toml", "data.strategy=head", "data.max_calls=10"], 0,
     ["max_calls = 10"]),
]


@pytest.mark.parametrize("argv, code, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_train_refuses_a_config_it_would_not_follow(argv, code, expected, tmp_path, capsys):
    paths = {}
    for name, text in FILES.items():
        paths[name] = str(tmp_path / f"{name}.toml")
        (tmp_path / f"{name}.toml").write_text(text)
    args = ["train", *(a.format(**paths) for a in argv), "--print-config"]
    assert main(args) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 0:
        assert err == "" and all(e in out for e in expected), out
        return
    assert out == "" and err.count("\n") == 1 and err.startswith("rnnlab train: error: "), err
    for e in expected:
        assert e in err, err


@pytest.mark.parametrize("override", ["model.hidden_size=100000", "model.embed_size=3000000000",
                                      "model.hidden_size=4611686018427387904"])
def test_a_model_too_big_to_allocate_is_one_line(override, capsys):
    # --dry-run reads the (small, shipped) demo data and builds the model: its size is the user's value
    assert main(["train", "configs/demo.toml", override, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the model does not fit in memory" in err and "model.hidden_size" in err
