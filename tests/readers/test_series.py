"""readers.series: CSV series, the time formats of ETTh1 and the S&P 500, and every refusal naming file and line."""
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError
from rnnlab.readers.series import future_times, parse_series, read_series, step_of


def _write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_ett_style_iso_times_and_all_columns(tmp_path):
    path = _write(tmp_path, "date,A,OT\n2016-07-01 00:00:00,1.5,30\n2016-07-01 01:00:00,2,27.5\n")
    s = read_series(path)
    assert s.columns == ["A", "OT"] and s.values.tolist() == [[1.5, 30.0], [2.0, 27.5]]
    assert s.time_format == "%Y-%m-%d %H:%M:%S" and s.lines == [2, 3]
    assert step_of(s.stamps).total_seconds() == 3600


def test_infers_day_first_sp500_dates_and_picks_columns(tmp_path):
    path = _write(tmp_path, "Date,Open,Close\n03-01-00,1,2\n04-01-00,3,4\n13-01-00,5,6\n")
    s = read_series(path, columns="Close", time_column="Date")
    assert s.time_format == "%d-%m-%y" and s.stamps[0] == datetime(2000, 1, 3)
    assert s.columns == ["Close"] and s.values[:, 0].tolist() == [2, 4, 6]


def test_a_given_format_is_used_as_given(tmp_path):
    # month first, as the user says: 01-03-00 is 3 January
    s = parse_series("d,x\n01-03-00,1\n01-04-00,2\n", time_column="d", time_format="%m-%d-%y")
    assert s.stamps[1] == datetime(2000, 1, 4)


def test_no_time_column_uses_row_numbers():
    s = parse_series("x,y\n1,2\n3,4\n", time_column="")
    assert s.times == ["0", "1"] and s.stamps == [None, None] and step_of(s.stamps) is None


def test_future_times_go_on_at_the_usual_step_in_the_files_format():
    s = parse_series("Date,p\n30-12-99,1\n31-12-99,2\n03-01-00,3\n04-01-00,4\n", time_column="Date")
    assert future_times(s, 3) == ["05-01-00", "06-01-00", "07-01-00"]  # the most common step: a day
    assert future_times(parse_series("p\n1\n2\n3\n", time_column=""), 2) == ["3", "4"]  # row numbers go on
    assert future_times(parse_series("date,p\n2020-01-01,1\n", time_column="date"), 1) == ["1"]  # no step known


def test_columns_not_asked_for_are_not_read():
    s = parse_series("date,note,x\n2020-01-01,zebra,1\n2020-01-02,,2\n", columns="x")
    assert s.values[:, 0].tolist() == [1, 2]


@pytest.mark.parametrize("text, line, words", [
    ("date,x\n2020-01-01,1\n2020-01-02,\n", 3, "missing value in column 'x'"),
    ("date,x\n2020-01-01,1\n2020-01-02,abc\n", 3, "'abc' is not a number"),
    ("date,x\n2020-01-01,1\n2020-01-02,nan\n", 3, "not a finite number"),
    ("date,x\n2020-01-01,1\n2020-01-02,1,2\n", 3, "3 fields, the header has 2"),
    ("date,x\n2020-01-02,1\n2020-01-01,2\n", 3, "is not after the previous row's"),
    ("date,x\n2020-01-01,1\n2020-01-01,2\n", 3, "is not after the previous row's"),
    ("date,x\n2020-01-01,1\n2020-01-02,2\nyesterday,3\n", 4, "does not match the format '%Y-%m-%d'"),
    ("date,x\nsoon,1\n", 2, "matches none of the known formats"),
    ("time,x\n2020-01-01,1\n", 1, "no time column 'date'"),
    ("date,x,x\n2020-01-01,1,2\n", 1, "column 'x' appears twice"),
    ("date,x\n", 1, "no rows of values"),
    ("date\n2020-01-01\n", 1, "no value columns"),
])
def test_bad_rows_are_refused_naming_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_series(path)
    assert e.value.line == line and words in e.value.problem
    assert str(e.value).startswith(f"{path}:{line}: ") and "\n" not in str(e.value)


def test_missing_column_and_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"s.csv:1: no column 'y'"):
        read_series(_write(tmp_path, "date,x\n2020-01-01,1\n"), columns="y")
    with pytest.raises(DataError, match="no such file"):
        read_series(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="empty"):
        read_series(_write(tmp_path, "\n\n", "e.csv"))


def test_a_given_format_that_does_not_match_names_the_line():
    with pytest.raises(DataError, match=r"<input>:2: time '2020-01-01' does not match the format '%d-%m-%y'"):
        parse_series("date,x\n2020-01-01,1\n", time_format="%d-%m-%y")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2), min_size=1, max_size=30))
def test_values_round_trip(rows):
    text = "date,a,b\n" + "".join(f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{a!r},{b!r}\n"
                                  for i, (a, b) in enumerate(rows))
    s = parse_series(text)
    assert np.array_equal(s.values, np.array(rows)) and len(s) == len(rows)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_reads_or_raises_one_data_error(text):
    try:
        s = parse_series("date,x\n" + text, time_column="date")
    except DataError as e:
        assert "\n" not in str(e) and str(e).startswith("<input>")
    else:
        assert np.all(np.isfinite(s.values)) and s.values.shape == (len(s), 1)
