"""Errors meant for users: raised at the boundary (file readers, CLI, HTTP), printed as one line.

Internals assert shapes; anything a user can cause by bad input raises `UserError` (or a subclass)
with the file, the line and what to do, so the CLI can print it without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """An error caused by the user's input, with a message that says what to do."""


class DataError(UserError):
    """Malformed data: names the file and (1-based) line where the problem is."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


class BundleError(UserError):
    """A model bundle that cannot be loaded: names the file and why."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")
