"""Log sessions as event-id sequences, one session a line (DeepLog, loghub).

Two line formats, told apart per line by a comma:

    5 5 22 11 9 26          HDFS (DeepLog's files): event ids separated by spaces (a trailing space is fine)
    4172a56c-...,1 17 10 2  OpenStack (loghub): a session id, a comma, then the event ids

Event ids are integers >= 0 (what a log parser such as Drain assigns to each log template). A session
without its id is named by its 1-based line number. Every line must hold at least one event: an empty
line is a DataError, not a skipped line, because in these files a line IS a session (DeepLog's HDFS
files have no empty line) and silently dropping one would shift every later line number away from the
session the user means. Errors name the file and the line.

Traces (`read_traces`, ADFA-LD's layout): one session a FILE, its ids over any number of lines, a directory of
such files (or of directories of them) read as sessions named by their paths; see the section at the end.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.files import decode_text
from rnnlab.readers.lines import split_lines, text_lines

_INTEGER = re.compile(r"[+-]?[0-9]+")
SHAPE = "`e1 e2 ...` or `session_id,e1 e2 ...` with integer event ids, e.g. `5 22 11 9`"  # for messages


@dataclass(frozen=True)
class Session:
    events: tuple[int, ...]  # event ids, in log order
    id: str  # the file's session id, or the line number as a string
    line: int  # 1-based line of the file


def parse_events(text: str) -> tuple[str | None, list[str]]:
    """A line -> (session id or None, the event fields as written). No checks: see `read_sessions`."""
    sid = None
    if "," in text:
        sid, text = text.split(",", 1)
        sid = sid.strip()
    return sid, text.split()


def read_sessions(path: Path) -> list[Session]:
    """Every session of `path`; DataError (file + line) on an empty session, a non-integer or negative id,
    an empty session id before the comma, or text that is not UTF-8; DataError naming the file when it is a
    directory or holds no session at all."""
    if Path(path).is_dir():
        raise DataError(path, None, f"is a directory: give a file of sessions, one a line ({SHAPE})")
    return sessions_from_lines(text_lines(Path(path)), path)


def sessions_from_bytes(data: bytes, name: str) -> list[Session]:
    """As `read_sessions`, from a file's bytes (an upload) called `name` in the errors."""
    return sessions_from_lines(split_lines(decode_text(data, name)), name)


def sessions_from_lines(lines: list[str], path: Path | str) -> list[Session]:
    """The sessions of a file's lines (see `read_sessions`); errors name `path` and the line. A file without
    a line is refused too: `detect` on it would answer nothing and exit 0, as if every session were normal."""
    if not lines:
        raise DataError(path, None, f"no sessions: the file is empty (one session a line: {SHAPE})")
    return [parse_session(raw, path, i) for i, raw in enumerate(lines, start=1)]


def parse_session(text: str, path: Path | str, line: int) -> Session:
    """One session written as a line (`e1 e2 ...` or `id,e1 e2 ...`): the one check every session passes, in a
    file or typed to `predict`; DataError(path, line) naming the field that is not an event id."""
    sid, fields = parse_events(text)
    if sid is not None and not sid:
        raise DataError(path, line, "empty session id before the comma (write `id,e1 e2 ...` or just `e1 e2 ...`)")
    if not fields:
        raise DataError(path, line, "empty session: every line must hold at least one event id "
                                    "(a line is one session; remove the empty line)")
    events = []
    for f in fields:
        # ASCII digits only: int() would also take "1_000" and other scripts' digits
        if not _INTEGER.fullmatch(f):
            raise DataError(path, line, f"event id {f[:60]!r} is not an integer (a session is {SHAPE}, "
                                        "ids separated by spaces)")
        if f.startswith("-"):
            raise DataError(path, line, f"event id {f} is negative (event ids are integers >= 0)")
        events.append(int(f))
    return Session(tuple(events), sid if sid is not None else str(line), line)


# ---- traces: one session per file (ADFA-LD) --------------------------------------------------------
# ADFA-LD (Creech & Hu 2013) keeps each process trace in its own file, its system-call numbers separated by
# spaces (possibly over several lines), and groups attack runs one directory per run:
#
#     Training_Data_Master/UTD-0001.txt          a directory of trace files
#     Attack_Data_Master/Adduser_1/UAD-....txt   a directory of directories of trace files
#
# A trace is named by its path relative to the directory given ("Adduser_1/UAD-Adduser-1-2783.txt"), so the
# attack run (and its type) stays readable in every verdict.

TRACE_SHAPE = "a file of integer call numbers separated by spaces or newlines, e.g. `6 6 63 6 42`"


def read_traces(path: Path) -> list[Session]:
    """A trace file (one session) or a directory of them, read one level of subdirectories deep, in sorted order;
    hidden files (".name") are skipped. DataError naming the file and line of a call that is not an integer
    >= 0, the file of an empty trace, and the directory when it holds no trace at all."""
    path = Path(path)
    if not path.is_dir():
        return [_trace(path, path.name)]
    files = sorted(f for f in path.iterdir() if not f.name.startswith("."))
    found = [f for f in files if f.is_file()]
    for sub in (f for f in files if f.is_dir()):
        found += sorted(g for g in sub.iterdir() if g.is_file() and not g.name.startswith("."))
    if not found:
        raise DataError(path, None, f"no trace files in this directory (one trace a file: {TRACE_SHAPE})")
    return [_trace(f, f.relative_to(path).as_posix()) for f in found]


def trace_from_bytes(data: bytes, name: str) -> Session:
    """One trace from a file's bytes (an upload) called `name` in the errors and as the session id."""
    return _trace_lines(split_lines(decode_text(data, name)), name, name)


def _trace(path: Path, name: str) -> Session:
    return _trace_lines(text_lines(path), path, name)


def _trace_lines(lines: list[str], path: Path | str, name: str) -> Session:
    events: list[int] = []
    for number, text in enumerate(lines, start=1):
        for f in text.split():
            if not _INTEGER.fullmatch(f) or f.startswith("-"):
                raise DataError(path, number, f"call {f[:60]!r} is not an integer >= 0 (a trace is {TRACE_SHAPE})")
            events.append(int(f))
    if not events:
        raise DataError(path, None, f"empty trace: no call numbers (a trace is {TRACE_SHAPE})")
    return Session(tuple(events), name, 1)


# ---- event names: what each id stands for (data.event_names) ---------------------------------------
# Event ids are numbers; a reader wants names: a system call's ("3" is `read` in the i386 numbering of ADFA-LD's
# traces), a log template's. Two formats, told apart by the file:
#
#     3 read                       lines `NUMBER NAME` (the name is the rest of the line, spaces allowed; `#` starts a
#     5 Receiving block * src: *   comment line): every other line is an error naming its line
#     #define __NR_read 3          a C header of system-call numbers (the kernel's asm/unistd_32.h, ADFA-LD's
#                                  ADFA-LD+Syscall+List.txt): its `#define __NR_name NUMBER` lines, the rest ignored
#
# A header defines some numbers twice under #ifdef alternatives (asm-generic: 84 sync_file_range2 and
# sync_file_range): the first is kept. A plain file naming one number twice is an error: which name is meant?

NAMES_SHAPE = "lines `NUMBER NAME` (e.g. `3 read`) or a C header's `#define __NR_read 3` lines"
MAX_NAME = 200  # characters: a name is a label for a cell of the studio, not a document
_HEADER = re.compile(r"\s*#\s*define\s+__NR(?:3264)?_([A-Za-z0-9_]+)\s+([0-9]+)\s*(?:/\*.*)?")
_NOT_A_CALL = {"syscalls"}  # asm-generic's `#define __NR_syscalls 264`: how many there are, not a call


def read_event_names(path: Path) -> dict[int, str]:
    """{event id: name} from a names file (see above); DataError naming the file and line of a line that is not
    `NUMBER NAME`, a negative or non-integer number, a number named twice, a name too long; and the file when it
    names nothing."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, f"is a directory: give a file of event names ({NAMES_SHAPE})")
    lines = text_lines(path)
    names: dict[int, str] = {}
    header = any(_HEADER.fullmatch(t) for t in lines)
    for number, text in enumerate(lines, start=1):
        if header:
            match = _HEADER.fullmatch(text)
            if match and match[1] not in _NOT_A_CALL:
                names.setdefault(int(match[2]), match[1])  # #ifdef alternatives: the first definition
            continue
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split(None, 1)
        if not _INTEGER.fullmatch(fields[0]) or fields[0].startswith(("-", "+")):
            raise DataError(path, number, f"{fields[0][:60]!r} is not an event id (an integer >= 0): the file holds "
                                          f"{NAMES_SHAPE}")
        if len(fields) < 2:
            raise DataError(path, number, f"event {fields[0]} has no name (write `{fields[0]} NAME`)")
        event, name = int(fields[0]), fields[1].strip()
        if len(name) > MAX_NAME:
            raise DataError(path, number, f"the name of event {event} is {len(name)} characters long "
                                          f"(at most {MAX_NAME})")
        if event in names:
            raise DataError(path, number, f"event {event} is named twice ({names[event]!r} and {name!r})")
        names[event] = name
    if not names:
        raise DataError(path, None, f"names no event: expected {NAMES_SHAPE}")
    return names
