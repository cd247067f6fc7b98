"""Where a config's data path points: `package:NAME` (data shipped inside rnnlab), `~` and `$VARS`."""
from __future__ import annotations

import os
from pathlib import Path

from rnnlab.errors import UserError

PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"  # rnnlab/data


def resolve_path(path: str | os.PathLike) -> Path:
    """A data path from a config: `~` and `$VARS` expanded, `package:NAME` -> the shipped rnnlab/data/NAME.

    Relative paths are relative to the current directory (where the command runs). An unset
    variable (e.g. $RNNLAB_DATA) is a user error, not a silently wrong path.
    """
    text = str(path)
    if text.startswith("package:"):
        return PACKAGE_DATA / text[len("package:"):]
    expanded = os.path.expandvars(os.path.expanduser(text))
    if "$" in expanded:
        var = expanded[expanded.index("$"):].split("/")[0]
        raise UserError(f"{text}: environment variable {var} is not set (e.g. export RNNLAB_DATA=/path/to/data)")
    return Path(expanded)


def check_input_file(path: str | os.PathLike) -> Path:
    """A file given to a prediction verb (`predict BUNDLE FILE`, detect, forecast) before it is read: there, a
    file (not a directory), and no larger than limits.max_file_bytes (a user's input, not a training corpus:
    training sets are read by their readers without this cap). One DataError naming the path otherwise."""
    from rnnlab import limits
    from rnnlab.errors import DataError

    p = resolve_path(path)
    if not p.is_file():
        raise DataError(path, None, "is a directory: give a file" if p.is_dir() else "no such file")
    size, cap = p.stat().st_size, limits.current().max_file_bytes
    if size > cap:
        raise DataError(path, None, f"input file too large: {size} bytes {limits.hint('max_file_bytes')}")
    return p
