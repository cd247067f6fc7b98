"""Time series from CSV: a header, one time column (optional) and numeric columns, one row per time step.

    date,HUFL,HULL,...,OT                      ETTh1 (hourly, ISO times)
    2016-07-01 00:00:00,5.827,2.009,...,30.531
    Date,Open,High,Low,Close,Volume            S&P 500 (daily, dd-mm-yy)
    03-01-00,1469.25,1478,1438.36,1455.22,931800000

`read_series(path, ...)` (a file) and `parse_series(text, name, ...)` (CSV text: the studio's upload, the
forecast verb's input) return a `Series`: the times as given, the chosen columns' values (N, C) float64.
`future_times(series, horizon)` gives the times of the rows after its last (its most common step on).

- `columns`: the value columns, comma-separated ("" = every column but the time column). Other columns
  are not read at all, so text in them is no error.
- `time_column`: its name ("" = no time column; the row number is the time).
- `time_format`: a `datetime.strptime` format ("%d-%m-%y"), or "" to infer it: the first of
  TIME_FORMATS that parses every row (ISO forms first, then day-first forms, then month-first ones, so
  "03-01-00" reads as 3 January 2000, as in the S&P 500 file; set the format to say otherwise).

Refused with one line naming the file and line (rnnlab.errors.DataError): a missing column, a row with the
wrong number of fields, an empty or non-numeric value (missing values are not filled in silently: a
forecaster trained on invented values forecasts them), a non-finite value or one beyond the limit
max_abs_value (rnnlab.limits: 1e308 is finite, but the scaler squares it), a time that does not parse,
and a time that is not after the previous row's (sort the file by time; duplicates are refused too).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from rnnlab import limits
from rnnlab.errors import DataError

# tried in this order when time_format is "": ISO first, then day-first, then month-first
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
                "%d-%m-%y", "%d-%m-%Y", "%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y")


@dataclass
class Series:
    """A multivariate series read from CSV: row i is time step i."""

    name: str  # the file (or what the text came from), for messages
    times: list[str]  # as written in the file (row numbers as text without a time column)
    stamps: list[datetime | None]  # parsed times (None without a time column)
    columns: list[str]  # the value columns, in the order asked for
    values: np.ndarray  # (N, C) float64
    lines: list[int]  # the 1-based file line of each row (for messages about a row)
    time_format: str = ""  # the format used (inferred or given); "" without a time column

    def __len__(self) -> int:
        return len(self.times)


def read_series(path: str | Path, *, columns: str = "", time_column: str = "date", time_format: str = "") -> Series:
    """A CSV file as a Series (see the module docstring); DataError naming file and line on bad data."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, "is a directory: give a CSV file (a header line, then one row per time step)")
    if not path.is_file():
        raise DataError(path, None, "no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError as e:
        raise DataError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_series(text, str(path), columns=columns, time_column=time_column, time_format=time_format)


def split_names(text: str) -> list[str]:
    """"a, b ,c" -> ["a", "b", "c"] ("" -> [])."""
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_series(text: str, name: str = "<input>", *, columns: str = "", time_column: str = "date",
                 time_format: str = "") -> Series:
    """CSV text as a Series; `name` is what messages call it. Same rules as read_series."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = _csv_rows(text, name)
    if not rows:
        raise DataError(name, None, "empty: expected a header line and rows of values")
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise DataError(name, header_line, f"column {dup!r} appears twice in the header")
    if time_column and time_column not in header:
        raise DataError(name, header_line, f"no time column {time_column!r} in the header ({', '.join(header)}); "
                                           f"set data.time_column (\"\" for none)")
    wanted = split_names(columns) or [h for h in header if h != time_column]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(name, header_line, f"no column {missing[0]!r} in the header ({', '.join(header)})")
    if not wanted:
        raise DataError(name, header_line, "no value columns: the header has only the time column")
    col_index = [header.index(c) for c in wanted]
    t_index = header.index(time_column) if time_column else None
    body = rows[1:]
    if not body:
        raise DataError(name, header_line, "no rows of values after the header")
    largest = limits.current().max_abs_value  # 1e308 is finite, but its square (the scaler's variance) is not
    values = np.empty((len(body), len(wanted)), dtype=np.float64)
    times, lines = [], []
    for r, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise DataError(name, line, f"{len(row)} fields, the header has {len(header)}")
        for c, j in enumerate(col_index):
            cell = row[j].strip()
            if not cell:
                raise DataError(name, line, f"missing value in column {wanted[c]!r} (fill or drop the row)")
            try:
                v = float(cell)
            except ValueError:
                raise DataError(name, line, f"column {wanted[c]!r}: {cell!r} is not a number") from None
            if not math.isfinite(v):
                raise DataError(name, line, f"column {wanted[c]!r}: {cell!r} is not a finite number")
            if abs(v) > largest:
                raise DataError(name, line, f"column {wanted[c]!r}: {cell} is beyond the largest magnitude a value "
                                            f"may have {limits.hint('max_abs_value')}")
            values[r, c] = v
        times.append(row[t_index].strip() if t_index is not None else str(r))
        lines.append(line)
    stamps: list[datetime | None] = [None] * len(times)
    used = ""
    if t_index is not None:
        used = time_format or _infer_format(times, lines, name)
        stamps = [_parse_time(t, used, line, name) for t, line in zip(times, lines)]
        for k in range(1, len(stamps)):
            if stamps[k] <= stamps[k - 1]:
                raise DataError(name, lines[k], f"time {times[k]!r} is not after the previous row's {times[k - 1]!r} "
                                                f"(format {used}): sort the rows by time, one row per time")
    return Series(name, times, stamps, wanted, values, lines, used)


def _csv_rows(text: str, name: str) -> list[tuple[int, list[str]]]:
    """(line, fields) of every non-blank CSV record; `line` is where the record ends (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append((reader.line_num, row))
    except csv.Error as e:
        raise DataError(name, reader.line_num, f"not CSV: {e}") from None
    return rows


# zero-padded ISO forms: datetime.fromisoformat reads them ~20x faster than strptime (ETTh1: 17k rows)
_ISO = {"%Y-%m-%d %H:%M:%S": (19, " "), "%Y-%m-%dT%H:%M:%S": (19, "T"), "%Y-%m-%d": (10, "")}


def _strptime(text: str, fmt: str) -> datetime:
    iso = _ISO.get(fmt)
    if iso is not None and len(text) == iso[0] and text[4] == "-" and (not iso[1] or text[10] == iso[1]):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # strptime decides (and words the error)
    return datetime.strptime(text, fmt)


def _parse_time(text: str, fmt: str, line: int, name: str) -> datetime:
    try:
        return _strptime(text, fmt)
    except ValueError:
        raise DataError(name, line, f"time {text!r} does not match the format {fmt!r} "
                                    f"(set data.time_format)") from None


def _infer_format(times: list[str], lines: list[int], name: str) -> str:
    """The first of TIME_FORMATS that parses every time; DataError at the first unparseable row otherwise."""
    best, best_reach = None, -1
    for fmt in TIME_FORMATS:
        reach = 0
        for t in times:
            try:
                _strptime(t, fmt)
            except ValueError:
                break
            reach += 1
        if reach == len(times):
            return fmt
        if reach > best_reach:
            best, best_reach = fmt, reach
    if best_reach == 0:
        raise DataError(name, lines[0], f"time {times[0]!r} matches none of the known formats; "
                                        f"set data.time_format (a strptime format such as %d-%m-%y)")
    raise DataError(name, lines[best_reach], f"time {times[best_reach]!r} does not match the format {best!r} "
                                             f"of the rows before it (set data.time_format)")


def step_of(stamps: list[datetime | None]):
    """The series' usual time step (the most common difference between consecutive times), or None."""
    if len(stamps) < 2 or stamps[0] is None:
        return None
    diffs = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
    return max(set(diffs), key=diffs.count)


def future_times(series: Series, horizon: int) -> list[str]:
    """The times of the `horizon` rows after the series' last: its usual step on from the last time, written in
    its time format; without a time column the row numbers go on."""
    step = step_of(series.stamps)
    if step is None:
        return [str(len(series) + k) for k in range(horizon)]
    last: datetime = series.stamps[-1]
    return [(last + step * (k + 1)).strftime(series.time_format) for k in range(horizon)]
