"""Fuzz every reader with arbitrary bytes: it reads them or raises one UserError naming the file -- never
another exception (a traceback), whatever the file holds. Bounded to a few seconds each."""
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.config import load_config
from rnnlab.errors import UserError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# bytes a user's file could hold: random bytes, broken UTF-8, and text close to each format
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
_NEAR_JSONL = st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["text", "intent", "tokens", "tags", "slots", "x"]),
                    st.one_of(st.text(max_size=20), st.integers(), st.none(),
                              st.lists(st.text(max_size=5), max_size=4)),
                    max_size=4).map(json.dumps),
    _TEXT), max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
_NEAR_CSV = st.lists(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=15), max_size=4)
                     .map(",".join), max_size=8).map(lambda lines: "\n".join(["text,intent,tags", *lines]).encode())
CONTENT = st.one_of(st.binary(max_size=300), _TEXT.map(str.encode), _NEAR_JSONL, _NEAR_CSV,
                    st.binary(max_size=50).map(lambda b: b"\xef\xbb\xbf" + b))


def _file(tmp_path, name, data):
    path = tmp_path / uuid.uuid4().hex / name
    path.parent.mkdir()
    path.write_bytes(data)
    return path


def _reads_or_names_the_file(read, path):
    try:
        read(path)
    except UserError as e:
        assert str(path) in str(e), e
        assert "\n" not in str(e)


@FUZZ
@given(data=CONTENT)
def test_intent_reader(tmp_path, data):
    from rnnlab.tasks.intent import IntentData, IntentModelConfig, IntentTask

    path = _file(tmp_path, "train.jsonl", data)
    task = IntentTask(IntentData(train=str(path), test="", valid_fraction=0.0), IntentModelConfig())
    _reads_or_names_the_file(lambda _: task.read("train"), path)


@FUZZ
@given(data=CONTENT, name=st.sampled_from(["data.csv", "data.jsonl", "data.tsv"]))
def test_utterance_reader(tmp_path, data, name):
    from rnnlab.readers.utterances import read_utterances

    path = _file(tmp_path, name, data)
    _reads_or_names_the_file(read_utterances, path)


@FUZZ
@given(data=CONTENT, level=st.sampled_from(["word", "char"]))
def test_language_model_readers(tmp_path, data, level):
    from rnnlab.tasks.lm import CharLMData, CharLMTask, LMModelConfig, WordLMData, WordLMTask

    path = _file(tmp_path, "text.txt", data)
    if level == "word":
        task = WordLMTask(WordLMData(train=str(path), valid=str(path), test="", bptt=5), LMModelConfig())
    else:
        task = CharLMTask(CharLMData(text=str(path), valid_fraction=0.5, bptt=5), LMModelConfig())

    def read(_):
        examples = task.read("train")
        task.fit(examples)
        [task.encode(e) for e in task.read("valid")]

    _reads_or_names_the_file(read, path)


@FUZZ
@given(data=st.one_of(CONTENT, st.builds(lambda k, v: f'task = "intent"\n[train]\n{k} = {v}\n'.encode(),
                                         st.sampled_from(["lr", "epochs", "precision", "seed", "bogus"]),
                                         st.sampled_from(["1", "-1", '"x"', "inf", "nan", "true", "[1]", "1e400"]))))
def test_config_reader(tmp_path, data):
    path = _file(tmp_path, "run.toml", data)
    _reads_or_names_the_file(load_config, path)


@FUZZ
@given(data=CONTENT)
def test_bundle_config_reader(tmp_path, data):
    import rnnlab

    path = _file(tmp_path, "config.json", data)
    try:
        rnnlab.load(path.parent)
    except UserError as e:
        assert str(path.parent) in str(e)


def test_a_directory_as_config_is_one_line(tmp_path):
    (tmp_path / "cfg.toml").mkdir()
    with pytest.raises(UserError, match="cfg.toml"):
        load_config(tmp_path / "cfg.toml")
