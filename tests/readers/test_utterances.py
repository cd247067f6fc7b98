"""Readers for intent + slot data: round trips (property-based) and every error names file and line."""
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError
from rnnlab.readers.utterances import (
    Utterance,
    read_csv,
    read_jsonl,
    read_seq_dir,
    read_utterances,
    write_csv,
    write_jsonl,
    write_seq_dir,
)

# tokens: any printable text without whitespace (unicode included); intents likewise
token = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\ufeff\x85"),
                min_size=1, max_size=6).filter(lambda s: s.split() == [s])
slot_type = st.sampled_from(["artist", "time", "city", "x_y"])


@st.composite
def utterance(draw, with_tags=True):
    tokens = draw(st.lists(token, min_size=1, max_size=6))
    tags, previous = [], "O"
    for _ in tokens:  # a random but valid IOB2 sequence
        kind = draw(st.sampled_from(["O", "B", "I"] if previous != "O" else ["O", "B"]))
        tag = "O" if kind == "O" else f"B-{draw(slot_type)}" if kind == "B" else f"I-{previous[2:]}"
        tags.append(tag)
        previous = tag
    return Utterance(tuple(tokens), draw(token), tuple(tags) if with_tags else None)


WRITERS = {"seq": (write_seq_dir, read_seq_dir, "data"), "csv": (write_csv, read_csv, "data.csv"),
           "jsonl": (write_jsonl, read_jsonl, "data.jsonl")}


@pytest.mark.parametrize("fmt", WRITERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(utterance(), min_size=1, max_size=5), with_tags=st.booleans())
def test_round_trip(tmp_path, fmt, data, with_tags):
    if not with_tags:
        data = [Utterance(u.tokens, u.intent, None) for u in data]
    write, read, name = WRITERS[fmt]
    path = tmp_path / f"{fmt}-{abs(hash(tuple(data)))}" / name
    path.parent.mkdir(exist_ok=True)
    write(path, data)
    assert read(path) == data
    assert read_utterances(path) == data


# each malformed line, in each format, yields a DataError naming the file and that line
BAD = {
    "count": ("play adele", "O", "2 tokens but 1 tags"),
    "bio": ("play adele", "O artist", "is not BIO"),
    "continuation": ("play adele", "O I-artist", "must continue"),
    "empty": ("   ", "", "empty utterance"),
}


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("problem", BAD)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(good=st.lists(utterance(), min_size=2, max_size=6), where=st.integers(0, 5))
def test_malformed_line_is_named(tmp_path, fmt, problem, good, where):
    where = where % len(good)
    text, tags, message = BAD[problem]
    write, read, name = WRITERS[fmt]
    path = tmp_path / f"{fmt}-{problem}-{abs(hash(tuple(good)))}-{where}" / name
    path.parent.mkdir(exist_ok=True)
    write(path, good)
    # rewrite the chosen record by hand in the file's own syntax
    if fmt == "seq":
        for fname, value in (("seq.in", text), ("seq.out", tags)):
            lines = (path / fname).read_text(encoding="utf-8").split("\n")
            lines[where] = value
            (path / fname).write_text("\n".join(lines), encoding="utf-8")
        line, bad_file = where + 1, path / ("seq.in" if problem == "empty" else "seq.out")
    elif fmt == "csv":
        lines = path.read_text(encoding="utf-8").split("\n")
        lines[where + 1] = f'"{text}",Intent,"{tags}"'
        path.write_text("\n".join(lines), encoding="utf-8")
        line, bad_file = where + 2, path
    else:
        lines = path.read_text(encoding="utf-8").split("\n")
        lines[where] = json.dumps({"text": text, "intent": "Intent", "tags": tags})
        path.write_text("\n".join(lines), encoding="utf-8")
        line, bad_file = where + 1, path
    with pytest.raises(DataError) as e:
        read(path)
    assert e.value.line == line and Path(e.value.path) == bad_file
    assert message in str(e.value) and f"{bad_file}:{line}:" in str(e.value)


def test_files_of_different_lengths(tmp_path):
    write_seq_dir(tmp_path, [Utterance(("a", "b"), "I", ("O", "O"))] * 3)
    (tmp_path / "label").write_text("I\nI\n")
    with pytest.raises(DataError, match=r"label:3: has 2 lines but seq.in has 3"):
        read_seq_dir(tmp_path)


def test_empty_intent_names_the_label_file(tmp_path):
    write_seq_dir(tmp_path, [Utterance(("a",), "I", ("O",))] * 2)
    (tmp_path / "label").write_text("I\n \n")
    with pytest.raises(DataError, match=r"label:2: empty intent"):
        read_seq_dir(tmp_path)


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl", "seq.in"])
def test_bad_encoding_names_line_and_column(tmp_path, name):
    good = {"data.csv": "text,intent\nhello,Greet\n", "data.jsonl": '{"text": "hello", "intent": "Greet"}\n',
            "seq.in": "hello\n"}[name]
    (tmp_path / "label").write_text("Greet\nGreet\n")
    (tmp_path / name).write_bytes(good.encode() + b"caf\xe9 ol\xe9\n")  # Latin-1, not UTF-8
    if name == "seq.in":
        path, line = tmp_path, 2
    else:
        path, line = tmp_path / name, 3 if name == "data.csv" else 2
    with pytest.raises(DataError, match=rf"{name}:{line}: not valid UTF-8 \(byte 0xe9 at column 4\)"):
        read_utterances(path)


def test_utf8_bom_and_crlf_are_accepted(tmp_path):
    (tmp_path / "d.csv").write_bytes("\ufefftext,intent,tags\r\nplay adele,PlayMusic,O B-artist\r\n".encode())
    assert read_csv(tmp_path / "d.csv") == [Utterance(("play", "adele"), "PlayMusic", ("O", "B-artist"))]


def test_missing_columns_and_keys(tmp_path):
    (tmp_path / "d.csv").write_text("sentence,intent\nhi,Greet\n")
    with pytest.raises(DataError, match=r"d.csv:1: missing column\(s\) text"):
        read_csv(tmp_path / "d.csv")
    (tmp_path / "d.jsonl").write_text('{"text": "hi", "intent": "Greet"}\n{"text": "yo"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: missing key\(s\) intent"):
        read_jsonl(tmp_path / "d.jsonl")
    (tmp_path / "e.jsonl").write_text('{"text": "hi", "intent": "Greet"}\n{"text": "yo", \n')
    with pytest.raises(DataError, match=r"e.jsonl:2: not valid JSON"):
        read_jsonl(tmp_path / "e.jsonl")
    (tmp_path / "f.csv").write_text("text,intent\nhi,Greet,extra\n")
    with pytest.raises(DataError, match=r"f.csv:2: 3 fields but the header has 2"):
        read_csv(tmp_path / "f.csv")


def test_unknown_format_and_missing_path(tmp_path):
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DataError, match="unknown format"):
        read_utterances(tmp_path / "d.txt")
    with pytest.raises(DataError, match="not found"):
        read_utterances(tmp_path / "nope.csv")


def test_real_snips_splits():
    root = os.environ.get("RNNLAB_DATA")
    if not root:
        pytest.skip("RNNLAB_DATA is not set: point it at the shared data directory to read real SNIPS")
    counts = {}
    for split in ("train", "valid", "test"):
        data = read_seq_dir(Path(root) / "snips" / split)
        counts[split] = len(data)
        assert all(u.tags is not None and len(u.tags) == len(u.tokens) for u in data)
        assert len({u.intent for u in data}) == 7
    assert counts == {"train": 13084, "valid": 700, "test": 700}
