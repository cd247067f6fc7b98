"""Session files (one session of event ids per line): both formats round-trip, every error names file and line."""
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError
from rnnlab.readers.sessions import parse_events, read_sessions

HYPO = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
events_st = st.lists(st.integers(0, 10**6), min_size=1, max_size=30)
session_id = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_"), min_size=1,
                     max_size=12)


def _write(tmp_path, text: str | bytes):
    path = tmp_path / f"{uuid.uuid4().hex}.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@HYPO
@given(sessions=st.lists(events_st, min_size=1, max_size=8), trailing=st.booleans(), final_newline=st.booleans())
def test_hdfs_format_round_trips(tmp_path, sessions, trailing, final_newline):
    text = "\n".join(" ".join(map(str, s)) + (" " if trailing else "") for s in sessions)
    got = read_sessions(_write(tmp_path, text + ("\n" if final_newline else "")))
    assert [list(s.events) for s in got] == sessions
    assert [s.id for s in got] == [str(i) for i in range(1, len(sessions) + 1)]  # line numbers name them
    assert [s.line for s in got] == list(range(1, len(sessions) + 1))


@HYPO
@given(rows=st.lists(st.tuples(session_id, events_st), min_size=1, max_size=8))
def test_loghub_format_round_trips(tmp_path, rows):
    text = "".join(f"{sid},{' '.join(map(str, ev))}\r\n" for sid, ev in rows)  # CRLF too
    got = read_sessions(_write(tmp_path, text))
    assert [(s.id, list(s.events)) for s in got] == [(sid, ev) for sid, ev in rows]


def test_both_formats_in_one_file(tmp_path):
    got = read_sessions(_write(tmp_path, "5 22 5 \nblk_1,3 4\n"))
    assert [(s.id, s.events) for s in got] == [("1", (5, 22, 5)), ("blk_1", (3, 4))]


@pytest.mark.parametrize("text, line, words", [
    ("5 22\n5 x 3\n", 2, "'x' is not an integer"),
    ("5 2.5\n", 1, "'2.5' is not an integer"),
    ("5 1_000\n", 1, "'1_000' is not an integer"),  # int() would take it
    ("5 ٣\n", 1, "is not an integer"),  # another script's digit, which int() would also take
    ("5 22\n\n5 3\n", 2, "empty session"),
    ("5 22\n   \n", 2, "empty session"),
    ("id1,\n", 1, "empty session"),
    ("5 -3\n", 1, "negative"),
    (",5 3\n", 1, "empty session id"),
    ("a,5 3,4\n", 1, "'3,4' is not an integer"),
])
def test_errors_name_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_sessions(path)
    assert e.value.line == line and words in e.value.problem and str(path) in str(e.value)


def test_bad_encoding_names_the_line(tmp_path):
    path = _write(tmp_path, b"5 22\n5 \xff 3\n")
    with pytest.raises(DataError) as e:
        read_sessions(path)
    assert e.value.line == 2 and "UTF-8" in e.value.problem


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_sessions(tmp_path / "nope.txt")


def test_parse_events_splits_the_id_at_the_first_comma():
    assert parse_events("a-b,1 2 3") == ("a-b", ["1", "2", "3"])
    assert parse_events(" 1  2 ") == (None, ["1", "2"])
