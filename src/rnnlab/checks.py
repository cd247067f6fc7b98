"""Checks of config values, shared by the tasks: each raises a one-line UserError naming the key.

The config loader (rnnlab.config) has already checked every value's type against its dataclass
field; these check what the type cannot say (a size of 0, a dropout of 1.5, a cell named "foo")
when a task is constructed, so a bad value stops the run, or the loading of a hand-edited bundle,
before any tensor is built, rather than as a traceback from torch. They check types too, because a
task can also be constructed in Python, without the loader.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from rnnlab.errors import UserError


def whole(key: str, value: Any, minimum: int = 1) -> int:
    """An int >= minimum (a size, a count, a number of layers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise UserError(f"{key} must be >= {minimum}, got {value}")
    return value


def rate(key: str, value: Any) -> float:
    """A probability in [0, 1): dropout rates, label smoothing (1 would drop or smooth everything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{key} must be a number, got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:  # also refuses NaN
        raise UserError(f"{key} must be in [0, 1), got {value}")
    return float(value)


def weight(key: str, value: Any) -> float:
    """A finite weight >= 0 (of an auxiliary loss)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{key} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise UserError(f"{key} must be a finite number >= 0, got {value}")
    return float(value)


def one_of(key: str, value: Any, choices: Iterable[str]) -> str:
    """One of a fixed set of names (cells, engines)."""
    choices = tuple(choices)
    if value not in choices:
        raise UserError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def model_keys(cfg: Any, *, sizes: Iterable[str], rates: Iterable[str], engine: bool = True) -> None:
    """Model keys by kind: sizes (>= 1), rates ([0, 1)) and, where the config has one, `engine`
    (a name in the engine table, rnnlab.engines.ENGINES); each read from `cfg` and reported as `model.<name>`."""
    from rnnlab.engines import ENGINES

    for name in sizes:
        whole(f"model.{name}", getattr(cfg, name))
    for name in rates:
        rate(f"model.{name}", getattr(cfg, name))
    if engine:
        one_of("model.engine", cfg.engine, ENGINES)


def cell(key: str, value: Any) -> str:
    """A recurrent cell name (an alias such as "rnn" allowed) -> the cell family's name (rnnlab.cells)."""
    from rnnlab.cells import resolve_cell

    try:
        return resolve_cell(value, key=key)
    except ValueError as e:
        raise UserError(str(e)) from None
