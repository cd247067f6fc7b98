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
