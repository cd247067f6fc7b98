"""API-call sequences: both layouts, gzip, the API index, and every error naming its file and line."""
import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError
from rnnlab.readers.calls import (
    parse_calls,
    read_api_index,
    read_call_file,
    read_call_lines,
    read_calls,
    read_calls_jsonl,
)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_calls_and_labels_files(tmp_path):
    calls = _write(tmp_path / "calls.txt", "1,2,2,3\n7 8  9\n4, 5\n")
    labels = _write(tmp_path / "types.txt", "Trojan\nWorms\r\nVirus\n")
    seqs = read_calls(calls, labels)
    assert [s.calls.tolist() for s in seqs] == [[1, 2, 2, 3], [7, 8, 9], [4, 5]]
    assert [s.label for s in seqs] == ["Trojan", "Worms", "Virus"] and [s.line for s in seqs] == [1, 2, 3]
    assert seqs[0].calls.dtype == np.int32


def test_gzipped_files_read_transparently(tmp_path):
    with gzip.open(tmp_path / "calls.txt.gz", "wt") as f:
        f.write("3,3,4\n5\n")
    _write(tmp_path / "types.txt", "A\nB\n")
    seqs = read_call_file(tmp_path / "calls.txt.gz", tmp_path / "types.txt")
    assert [s.calls.tolist() for s in seqs] == [[3, 3, 4], [5]]


def test_a_long_line_is_an_array(tmp_path):
    _write(tmp_path / "calls.txt", ",".join(["7"] * 200_000) + "\n")
    (line, ids), = read_call_lines(tmp_path / "calls.txt")
    assert line == 1 and ids.shape == (200_000,) and ids.dtype == np.int32


@pytest.mark.parametrize("text, problem", [
    ("1,2\n3,x\n", "'x' is not a non-negative integer"),
    ("1,2\n3,-4\n", "'-4' is not a non-negative integer"),
    ("1,2\n3,2.5\n", "'2.5' is not a non-negative integer"),
    ("1,2\n99999999999\n", "'99999999999' is not a non-negative integer"),
    ("1,2\n , \n", "empty sequence"),
    ("1,2\n\n", "empty sequence"),
])
def test_bad_calls_name_the_line(tmp_path, text, problem):
    calls = _write(tmp_path / "calls.txt", text)
    labels = _write(tmp_path / "types.txt", "A\nB\n")
    with pytest.raises(DataError) as e:
        read_calls(calls, labels)
    assert e.value.line == 2 and problem in e.value.problem and str(calls) in str(e.value)


def test_different_lengths_say_both_counts(tmp_path):
    calls = _write(tmp_path / "calls.txt", "1\n2\n3\n")
    labels = _write(tmp_path / "types.txt", "A\nB\n")
    with pytest.raises(DataError) as e:
        read_calls(calls, labels)
    assert "2 labels" in str(e.value) and "3 sequences" in str(e.value) and e.value.line == 3


def test_empty_label_names_the_line(tmp_path):
    calls = _write(tmp_path / "calls.txt", "1\n2\n")
    labels = _write(tmp_path / "types.txt", "A\n  \n")
    with pytest.raises(DataError, match=r"types.txt:2: empty label"):
        read_calls(calls, labels)


def test_bad_encoding_names_the_line(tmp_path):
    (tmp_path / "calls.txt").write_bytes(b"1,2\n3,\xff4\n")
    with pytest.raises(DataError, match=r"calls.txt:2: not valid UTF-8"):
        read_call_lines(tmp_path / "calls.txt")
    (tmp_path / "types.txt").write_bytes(b"A\n\xe9\n")
    with pytest.raises(DataError, match=r"types.txt:2: not valid UTF-8"):
        read_calls(tmp_path / "calls.txt", tmp_path / "types.txt")


def test_broken_gzip_and_missing_files(tmp_path):
    (tmp_path / "calls.txt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_call_lines(tmp_path / "calls.txt.gz")
    with pytest.raises(DataError, match="file not found"):
        read_call_lines(tmp_path / "nope.txt")
    _write(tmp_path / "empty.txt", "")
    with pytest.raises(DataError, match="the file is empty"):
        read_call_lines(tmp_path / "empty.txt")


def test_jsonl_with_lists_or_strings(tmp_path):
    path = _write(tmp_path / "seqs.jsonl", json.dumps({"calls": [1, 2, 2], "label": "A"}) + "\n"
                  + json.dumps({"calls": "4,5 6", "label": " B "}) + "\n")
    seqs = read_call_file(path)
    assert [s.calls.tolist() for s in seqs] == [[1, 2, 2], [4, 5, 6]] and [s.label for s in seqs] == ["A", "B"]


@pytest.mark.parametrize("obj, problem", [
    ({"calls": [1, "x"], "label": "A"}, "is not a non-negative integer"),
    ({"calls": [1, True], "label": "A"}, "is not a non-negative integer"),
    ({"calls": [], "label": "A"}, "empty sequence"),
    ({"calls": "", "label": "A"}, "empty sequence"),
    ({"calls": [1], "label": ""}, "non-empty string"),
    ({"calls": [1]}, "non-empty string"),
    ({"calls": 5, "label": "A"}, "must be a list"),
    ({"label": "A"}, "missing key"),
])
def test_bad_jsonl_names_the_line(tmp_path, obj, problem):
    path = _write(tmp_path / "seqs.jsonl", json.dumps({"calls": [1], "label": "A"}) + "\n" + json.dumps(obj) + "\n")
    with pytest.raises(DataError) as e:
        read_calls_jsonl(path)
    assert e.value.line == 2 and problem in e.value.problem


def test_layouts_need_the_right_labels(tmp_path):
    calls = _write(tmp_path / "calls.txt", "1\n")
    with pytest.raises(DataError, match="needs its labels file"):
        read_call_file(calls)
    path = _write(tmp_path / "seqs.jsonl", json.dumps({"calls": [1], "label": "A"}) + "\n")
    with pytest.raises(DataError, match="labels inside"):
        read_call_file(path, calls)


def test_api_index(tmp_path):
    path = _write(tmp_path / "ApiIndex.txt", "__process__=0\nntclose=7\n\nweird=name=9\n")
    assert read_api_index(path) == {0: "__process__", 7: "ntclose", 9: "weird=name"}
    _write(tmp_path / "bad.txt", "ntclose=7\nntopen\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected name=id"):
        read_api_index(tmp_path / "bad.txt")
    _write(tmp_path / "twice.txt", "a=1\nb=1\n")
    with pytest.raises(DataError, match=r"twice.txt:2: id 1 is named twice"):
        read_api_index(tmp_path / "twice.txt")


sequences = st.lists(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=30), min_size=1, max_size=12)
# a name of only whitespace (U+0085, U+00A0 are in this range) is an empty label, refused by its own test
families = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters=","), min_size=1,
                   max_size=8).filter(lambda name: name.strip())


@settings(max_examples=40, deadline=None)
@given(seqs=sequences, names=st.data(), sep=st.sampled_from([",", " ", ", ", "\t"]))
def test_round_trip_of_calls_and_labels(tmp_path_factory, seqs, names, sep):
    folder = tmp_path_factory.mktemp("rt")
    labels = [names.draw(families) for _ in seqs]
    (folder / "calls.txt").write_text("".join(sep.join(map(str, s)) + "\n" for s in seqs), encoding="utf-8")
    (folder / "types.txt").write_text("".join(x + "\n" for x in labels), encoding="utf-8")
    got = read_calls(folder / "calls.txt", folder / "types.txt")
    assert [g.calls.tolist() for g in got] == seqs and [g.label for g in got] == [x.strip() for x in labels]


@settings(max_examples=40, deadline=None)
@given(seqs=sequences, as_text=st.booleans())
def test_round_trip_of_jsonl(tmp_path_factory, seqs, as_text):
    path = tmp_path_factory.mktemp("rt") / "seqs.jsonl"
    rows = [{"calls": ",".join(map(str, s)) if as_text else s, "label": f"F{i % 3}"} for i, s in enumerate(seqs)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [g.calls.tolist() for g in read_calls_jsonl(path)] == seqs


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_parse_calls_returns_ids_or_one_data_error(text):
    try:
        ids = parse_calls(text)
    except DataError as e:
        assert "\n" not in e.problem
    else:
        assert ids.size >= 1 and ids.min() >= 0
        assert ids.tolist() == [int(p) for p in text.replace(",", " ").split()]


def test_calls_from_bytes_reads_an_upload_as_the_file_readers_do():
    import gzip as _gzip

    from rnnlab.errors import DataError as _DataError
    from rnnlab.readers.calls import calls_from_bytes

    plain = calls_from_bytes(b"1,2,2,3\n4 5\n", "mine.txt")
    assert [(s.calls.tolist(), s.line, s.label) for s in plain] == [([1, 2, 2, 3], 1, ""), ([4, 5], 2, "")]
    jsonl = b'{"calls": [7, 8]}\n{"calls": "9,9", "label": "Trojan"}\n'
    assert [s.calls.tolist() for s in calls_from_bytes(jsonl, "up.jsonl")] == [[7, 8], [9, 9]]
    assert [s.calls.tolist() for s in calls_from_bytes(_gzip.compress(jsonl), "up.jsonl.gz")] == [[7, 8], [9, 9]]
    with pytest.raises(_DataError, match=r"^mine.txt:2: API-call id 'x'"):
        calls_from_bytes(b"1,2\nx,3\n", "mine.txt")
    with pytest.raises(_DataError, match=r"^up.jsonl:1: not valid JSON"):
        calls_from_bytes(b"{oops\n", "up.jsonl")
    with pytest.raises(_DataError, match=r"^up.gz: not a valid gzip file"):
        calls_from_bytes(b"not gzip", "up.gz")
