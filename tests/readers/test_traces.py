"""Trace files (ADFA-LD's layout: one trace a file, calls over any number of lines, attack runs one directory each):
read as sessions named by their file; every error is one line naming the file (and the line of a bad call)."""
import pytest

from rnnlab.errors import DataError
from rnnlab.readers.sessions import read_traces, trace_from_bytes


def _adfa_like(root):
    """Training_Data_Master-like: two trace files; Attack_Data_Master-like: a directory of run directories."""
    (root / "normal").mkdir()
    (root / "normal" / "UTD-0002.txt").write_text("6 6 63 6 42 \n")
    (root / "normal" / "UTD-0001.txt").write_text("3 4 5\n6 7\n\n8 \n")  # several lines, an empty one: one trace
    (root / "normal" / ".hidden").write_text("not a trace")
    for run, calls in (("Adduser_1", "1 2 3"), ("Web_Shell_2", "9 9")):
        (root / "attack" / run).mkdir(parents=True)
        (root / "attack" / run / f"UAD-{run}-1.txt").write_text(calls + "\n")
    return root


def test_a_directory_of_traces_each_named_by_its_file(tmp_path):
    got = read_traces(_adfa_like(tmp_path) / "normal")
    assert [(s.id, list(s.events)) for s in got] == [("UTD-0001.txt", [3, 4, 5, 6, 7, 8]),
                                                      ("UTD-0002.txt", [6, 6, 63, 6, 42])]


def test_a_directory_of_run_directories_keeps_the_run_in_the_name(tmp_path):
    got = read_traces(_adfa_like(tmp_path) / "attack")
    assert [(s.id, list(s.events)) for s in got] == [("Adduser_1/UAD-Adduser_1-1.txt", [1, 2, 3]),
                                                      ("Web_Shell_2/UAD-Web_Shell_2-1.txt", [9, 9])]


def test_one_file_is_one_trace(tmp_path):
    path = _adfa_like(tmp_path) / "normal" / "UTD-0001.txt"
    assert [(s.id, list(s.events)) for s in read_traces(path)] == [("UTD-0001.txt", [3, 4, 5, 6, 7, 8])]
    assert list(trace_from_bytes(b"1 2\n3\n", "up.txt").events) == [1, 2, 3]


@pytest.mark.parametrize("text, line, words", [
    ("1 2 3\n4 open 5\n", 2, "'open' is not an integer"),
    ("1 2\n3 -4\n", 2, "'-4' is not an integer >= 0"),
    ("1.5 2\n", 1, "'1.5'"),
])
def test_a_bad_call_is_one_line_naming_file_and_line(tmp_path, text, line, words):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.txt").write_text("1 2 3\n")
    (tmp_path / "d" / "bad.txt").write_text(text)
    with pytest.raises(DataError) as e:
        read_traces(tmp_path / "d")
    assert e.value.path.endswith("bad.txt") and e.value.line == line
    assert words in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"{tmp_path / 'd' / 'bad.txt'}:{line}: ")


def test_an_empty_trace_and_an_empty_directory_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "empty.txt").write_text(" \n\n")
    with pytest.raises(DataError, match=r"empty\.txt: empty trace"):
        read_traces(tmp_path / "d")
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no trace files"):
        read_traces(tmp_path / "none")
    with pytest.raises(DataError, match="not UTF-8|UTF-8"):
        trace_from_bytes(b"1 2 \xff\n", "up.txt")
