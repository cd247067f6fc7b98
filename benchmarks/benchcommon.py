"""What every benchmark JSON shares: the `machine` it ran on and the `targets` list.

    "machine": {"cpu", "cpu_capability", "native_bf16", "threads", "cpu_count", "platform", ...}
    "targets": [{"name", "value", "target", "direction": "<=" | ">=", "met"}, ...]

`machine` is rnnlab.precision.machine() (CPU model, torch's CPU capability, native bf16 yes/no,
threads) plus what a benchmark adds (load average, ...). `targets` has one item per target of the
benchmark's issue, each a figure of the JSON against its limit, so that one reader can judge them all.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DIRECTIONS = ("<=", ">=")
# the fields of `machine` every JSON has (null in a JSON written before they were recorded)
PRECISION_FIELDS = ("cpu", "cpu_capability", "native_bf16", "threads")


def machine(threads: int | None = None, **extra: Any) -> dict[str, Any]:
    """rnnlab.precision.machine(threads) and the benchmark's own fields."""
    from rnnlab.precision import machine as precision_machine

    return {**precision_machine(threads), **extra}


def target(name: str, value: float, limit: float, direction: str, **extra: Any) -> dict[str, Any]:
    """One item of `targets`: `value` against `limit` (direction "<=": lower is better)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    value, limit = float(value), float(limit)
    met = value <= limit if direction == "<=" else value >= limit
    return {"name": name, "value": value, "target": limit, "direction": direction,
            "met": bool(met and math.isfinite(value)), **extra}


def all_met(targets: list[dict[str, Any]]) -> bool:
    return all(t["met"] for t in targets)


def describe(targets: list[dict[str, Any]]) -> str:
    """One line per target, as the scripts print them."""
    return "\n".join(f"target {t['name']}: {t['value']:g} {t['direction']} {t['target']:g}: "
                     f"{'met' if t['met'] else 'NOT met'}" for t in targets)

