"""Parallel text readers: round trips in each layout (property-based), and every error names file and line."""
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError, UserError
from rnnlab.readers.parallel import (
    SentencePair,
    read_aligned,
    read_jsonl,
    read_parallel,
    read_tsv,
    write_aligned,
    write_jsonl,
    write_tsv,
)

# a sentence: any text with something other than whitespace in it, and none of what one-per-line files
# cannot hold (a newline; a tab for TSV; a BOM, which read_text drops at the start of a file; a final CR)
sentence = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\t\ufeff"),
                   min_size=1, max_size=30).filter(lambda s: s.strip() and not s.endswith("\r"))
pairs_st = st.lists(st.tuples(sentence, sentence), min_size=1, max_size=6).map(
    lambda ps: [SentencePair(s, t, i) for i, (s, t) in enumerate(ps, start=1)])

HYPO = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _dir(tmp_path):
    d = tmp_path / uuid.uuid4().hex
    d.mkdir()
    return d


@pytest.mark.parametrize("fmt", ["aligned", "tsv", "tsv-header", "jsonl"])
@HYPO
@given(pairs=pairs_st)
def test_round_trip(tmp_path, fmt, pairs):
    d = _dir(tmp_path)
    if fmt == "aligned":
        write_aligned(d / "train.de", d / "train.en", pairs)
        assert read_aligned(d / "train.de", d / "train.en") == pairs
        assert read_parallel(d / "train.de", d / "train.en") == pairs
        return
    if fmt == "jsonl":
        path = d / "train.jsonl"
        write_jsonl(path, pairs)
        assert read_jsonl(path) == pairs
    else:
        header = fmt == "tsv-header"
        if not header and (pairs[0].source, pairs[0].target) == ("source", "target"):
            return  # that first row would read as a header: documented
        path = d / "train.tsv"
        write_tsv(path, pairs, header=header)
        expected = [SentencePair(p.source, p.target, p.line + header) for p in pairs]  # after the header line
        assert read_tsv(path) == expected
        pairs = expected
    assert read_parallel(path) == pairs


def test_text_is_kept_raw_and_crlf_is_a_terminator(tmp_path):
    (tmp_path / "a.de").write_bytes("  Zwei Männer\u2028im Park. \r\nEin Hund\r\n".encode())
    (tmp_path / "a.en").write_bytes(b"Two men in a park.\nA dog")  # no final newline
    assert read_aligned(tmp_path / "a.de", tmp_path / "a.en") == [
        SentencePair("  Zwei Männer\u2028im Park. ", "Two men in a park.", 1), SentencePair("Ein Hund", "A dog", 2)]


def test_tsv_header_picks_columns_by_name(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("id\ttarget\tsource\n7\tA dog.\tEin Hund.\n", encoding="utf-8")
    assert read_tsv(path) == [SentencePair("Ein Hund.", "A dog.", 2)]


def test_config_paths_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path))
    write_jsonl(tmp_path / "d.jsonl", [SentencePair("a", "b", 1)])
    assert read_parallel("$RNNLAB_DATA/d.jsonl") == [SentencePair("a", "b", 1)]
    monkeypatch.delenv("RNNLAB_DATA")
    with pytest.raises(UserError, match="RNNLAB_DATA"):
        read_parallel("$RNNLAB_DATA/d.jsonl")


# ---------------------------------------------------------------- errors: file, 1-based line, problem


def _error(read, *args) -> DataError:
    with pytest.raises(DataError) as info:
        read(*args)
    assert "\n" not in str(info.value)
    return info.value


def test_line_counts_differ_names_both_files_and_counts(tmp_path):
    (tmp_path / "s.de").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "s.en").write_text("x\ny\n", encoding="utf-8")
    e = _error(read_aligned, tmp_path / "s.de", tmp_path / "s.en")
    assert (e.path, e.line) == (str(tmp_path / "s.en"), 3)
    assert "has 2 lines" in e.problem and str(tmp_path / "s.de") in e.problem and "has 3" in e.problem


@pytest.mark.parametrize("side", ["source", "target", "both"])
def test_empty_line_names_the_side(tmp_path, side):
    src = ["Ein Hund.", "" if side in ("source", "both") else "Eine Katze.", "Ein Baum."]
    tgt = ["A dog.", " \t" if side in ("target", "both") else "A cat.", "A tree."]
    (tmp_path / "s.de").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "s.en").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    e = _error(read_aligned, tmp_path / "s.de", tmp_path / "s.en")
    assert e.line == 2
    assert e.path == str(tmp_path / ("s.en" if side == "target" else "s.de"))
    assert {"source": "empty source line", "target": "empty target line", "both": "in both"}[side] in e.problem


def test_empty_line_is_named_before_the_count_it_shifts(tmp_path):
    (tmp_path / "s.de").write_text("a\n\nb\n", encoding="utf-8")
    (tmp_path / "s.en").write_text("x\ny\n", encoding="utf-8")
    e = _error(read_aligned, tmp_path / "s.de", tmp_path / "s.en")
    assert (e.path, e.line) == (str(tmp_path / "s.de"), 2) and "empty source line" in e.problem


@pytest.mark.parametrize("name", ["s.de", "d.tsv", "d.jsonl"])
def test_bad_encoding_names_the_line(tmp_path, name):
    path = tmp_path / name
    good = b'{"source": "a", "target": "b"}\n' if name.endswith("jsonl") else b"a\tb\n"
    path.write_bytes(good + good + b"caf\xe9\tx\n")
    if name == "s.de":
        (tmp_path / "s.en").write_text("x\ny\nz\n", encoding="utf-8")
        e = _error(read_parallel, path, tmp_path / "s.en")
    else:
        e = _error(read_parallel, path)
    assert (e.path, e.line) == (str(path), 3) and "UTF-8" in e.problem


@pytest.mark.parametrize("text, line, message", [
    ("a\tb\nc\td\te\n", 2, "3 tab-separated fields; expected 2"),
    ("a\tb\nno tab here\n", 2, "1 tab-separated fields; expected 2"),
    ("source\ttarget\tid\na\tb\t1\nc\td\n", 3, "2 tab-separated fields; the header has 3"),
    ("a\tb\n \tb\n", 2, "empty source field"),
    ("source\ttarget\na\t\n", 2, "empty target field"),
    ("source\ttarget\tsource\na\tb\tc\n", 1, "repeats a column name"),
])
def test_tsv_errors(tmp_path, text, line, message):
    path = tmp_path / "d.tsv"
    path.write_text(text, encoding="utf-8")
    e = _error(read_parallel, path)
    assert (e.path, e.line) == (str(path), line) and message in e.problem


@pytest.mark.parametrize("record, message", [
    ('["Ein Hund.", "A dog."]', "expected a JSON object"),
    ('"Ein Hund."', "expected a JSON object"),
    ('{"source": "Ein Hund."}', "missing key(s) target"),
    ('{"src": "Ein Hund.", "tgt": "A dog."}', "missing key(s) source, target"),
    ('{"source": "Ein Hund.", "target": 3}', "target must be a string, got int"),
    ('{"source": null, "target": "A dog."}', "source must be a string, got NoneType"),
    ('{"source": "Ein Hund.", "target": "  "}', "empty target"),
    ('{"source": "Ein Hund.", ', "not valid JSON"),
    ("", "empty line"),
])
def test_jsonl_errors(tmp_path, record, message):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"source": "a", "target": "b"}) + "\n" + record + "\n", encoding="utf-8")
    e = _error(read_parallel, path)
    assert (e.path, e.line) == (str(path), 2) and message in e.problem


@pytest.mark.parametrize("name, problem", [("d.tsv", "empty"), ("d.jsonl", "empty"), ("d.txt", "unknown format"),
                                           ("missing.tsv", "file not found")])
def test_whole_file_problems(tmp_path, name, problem):
    if not name.startswith("missing"):
        (tmp_path / name).write_text("", encoding="utf-8")
    e = _error(read_parallel, tmp_path / name)
    assert e.line is None and e.path == str(tmp_path / name) and problem in e.problem


def test_writers_refuse_what_cannot_be_read_back(tmp_path):
    with pytest.raises(ValueError, match="one per line"):
        write_tsv(tmp_path / "d.tsv", [SentencePair("a\tb", "c", 1)])
    with pytest.raises(ValueError, match="one per line"):
        write_aligned(tmp_path / "a", tmp_path / "b", [SentencePair("a", "c\nd", 1)])


# any bytes at all: read, or one DataError naming the file -- never another exception
_NEAR = st.lists(st.one_of(st.text(max_size=20), st.dictionaries(st.sampled_from(["source", "target", "x"]),
                 st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=3).map(json.dumps)),
                 max_size=6).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), _NEAR), other=st.binary(max_size=60),
       name=st.sampled_from(["d.tsv", "d.jsonl", "d.de"]))
def test_fuzz_reads_or_names_the_file(tmp_path, data, other, name):
    d = _dir(tmp_path)
    (d / name).write_bytes(data)
    (d / "d.en").write_bytes(other)
    try:
        read_parallel(d / name, d / "d.en" if name == "d.de" else None)
    except DataError as e:
        assert str(d) in str(e) and "\n" not in str(e)
