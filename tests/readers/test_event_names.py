"""Event names (data.event_names): `NUMBER NAME` lines or a C header's `#define __NR_name NUMBER` lines -> {id: name};
every error one line naming the file and the line."""
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.sessions import read_event_names

SHIPPED = "package:syscalls/linux_i386.txt"
KERNEL_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_32.h")


def test_plain_lines_name_events_with_spaces_and_comments(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("# HDFS templates\n\n5 Receiving block * src: * dest: *\n22\tBlockInfo not found\n  3 read  \n")
    assert read_event_names(f) == {5: "Receiving block * src: * dest: *", 22: "BlockInfo not found", 3: "read"}


def test_a_header_keeps_its_define_lines_and_the_first_of_two_alternatives(tmp_path):
    f = tmp_path / "unistd.h"
    f.write_bytes(b"#ifndef X\r\n#define __NR_read 3\r\n__SYSCALL(__NR_read, sys_read)\r\n#define __NR3264_lseek 62\r\n"
                  b"#ifdef ARM\r\n#define __NR_sync_file_range2 84\r\n#else\r\n#define __NR_sync_file_range 84\r\n"
                  b"#endif\r\n#define __NR_fcntl __NR3264_fcntl\r\n#undef __NR_syscalls\r\n"
                  b"#define __NR_syscalls 264\r\n")
    # the count __NR_syscalls is not a call; an alias to another macro names no number
    assert read_event_names(f) == {3: "read", 62: "lseek", 84: "sync_file_range2"}


@pytest.mark.parametrize("text, line, words", [
    ("3 read\nread 3\n", 2, "'read' is not an event id"),
    ("3 read\n-4 write\n", 2, "'-4' is not an event id"),
    ("3 read\n4\n", 2, "event 4 has no name"),
    ("3 read\n\n3 write\n", 3, "event 3 is named twice ('read' and 'write')"),
    ("7 " + "x" * 201 + "\n", 1, "201 characters long"),
])
def test_a_bad_line_is_named_with_its_file_and_line(tmp_path, text, line, words):
    f = tmp_path / "names.txt"
    f.write_text(text)
    with pytest.raises(DataError) as e:
        read_event_names(f)
    assert e.value.line == line and words in e.value.problem and str(f) in str(e.value)


def test_a_file_naming_nothing_and_a_directory_are_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    with pytest.raises(DataError, match="names no event"):
        read_event_names(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_event_names(tmp_path)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 10**6), st.text(st.characters(whitelist_categories=("L", "N", "P", "Zs")),
                                                      min_size=1, max_size=40).map(str.strip).filter(bool),
                       min_size=1, max_size=30),
       st.sampled_from(["plain", "header"]))
def test_any_table_written_in_either_format_reads_back(tmp_path_factory, table, kind):
    if kind == "header":  # a header's names are C identifiers
        table = {k: "c" + re.sub(r"\W", "_", v, flags=re.ASCII) for k, v in table.items()}
        text = "#ifndef H\n" + "".join(f"#define __NR_{v} {k}\n__SYSCALL(__NR_{v}, sys_{v})\n"
                                       for k, v in table.items())
    else:
        text = "# a table\n" + "".join(f"{k} {v}\n" for k, v in table.items())
    f = tmp_path_factory.mktemp("names") / "names.txt"
    f.write_text(text, encoding="utf-8")
    assert read_event_names(f) == table


def test_the_shipped_i386_table_is_the_numbering_of_adfa_ld_traces():
    names = read_event_names(resolve_path(SHIPPED))
    # ADFA-LD's most frequent training calls, in the i386 numbering (3 read ... 240 futex)
    assert [names[n] for n in (3, 4, 6, 5, 195, 240, 192, 168)] == [
        "read", "write", "close", "open", "stat64", "futex", "mmap2", "poll"]
    assert names[11] == "execve" and len(names) >= 380


@pytest.mark.skipif(not KERNEL_HEADER.exists(), reason=f"{KERNEL_HEADER} (linux-libc-dev) is not on this machine")
def test_the_shipped_table_agrees_with_the_kernel_header_on_this_machine():
    shipped, kernel = read_event_names(resolve_path(SHIPPED)), read_event_names(KERNEL_HEADER)
    assert {k: v for k, v in kernel.items() if k in shipped} == shipped
