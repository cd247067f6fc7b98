"""The table of engines: how a `rnnlab.Recurrent` layer runs, one file per engine, registered here.

A layer owns the parameters (torch.nn's names and layout) and checks its inputs; an engine only runs it.
Like the cell families (rnnlab.cells.families), what differs between engines is an entry in a table,
never a branch inside the layer:

    name     file        runs                                                    traces
    fused    fused.py    torch's own kernels (torch._VF.lstm & co.): oneDNN, cuDNN  no
    glass    glass.py    the cells of rnnlab.cells, step by step in Python           yes (every gate, every step)
    native   native.py   rnnlab's C++ loop (native.cpp) between two large GEMMs     no
    auto     native.py   native for the modes it runs faster (gru, rnn), else fused  no    (the default)

An engine is `run(layer, x, state, lengths) -> (output, state)` over already-checked inputs
(x (T, B, I) or (B, T, I) with layer.batch_first; state None or the family's form, (L*D, B, H) each;
lengths None or int64 (B,) on the CPU), returning what torch.nn returns. An engine that can record every
named value of every step also offers `trace(layer, x, state, lengths) -> (output, state, values)`;
`Recurrent.trace` uses the first such engine ("glass"), whatever the layer's own engine is.

A new engine is one file here with a `run` (and optionally `trace`) and one `register(...)` line below;
`Recurrent(engine=...)`, every task's `model.engine` and the config checks then accept its name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import fused, glass, native


@dataclass(frozen=True)
class Engine:
    """One way of running a recurrent layer (see the module docstring)."""

    name: str
    run: Callable  # (layer, x, state, lengths) -> (output, state)
    trace: Callable | None = None  # (layer, x, state, lengths) -> (output, state, {name: (T, B, H)}), or None
    summary: str = ""  # one line for docs and errors


ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    """Add an engine to the table (a name once only: a second entry under one name is a mistake)."""
    if engine.name in ENGINES:
        raise ValueError(f"engine {engine.name!r} is registered already")
    ENGINES[engine.name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """The engine registered as `name`; ValueError naming the registered ones otherwise."""
    if not isinstance(name, str) or name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {name!r}")
    return ENGINES[name]


def tracing_engine() -> Engine:
    """The engine `Recurrent.trace` runs: the first registered one that can record its steps."""
    return next(e for e in ENGINES.values() if e.trace is not None)


register(Engine("fused", fused.run, summary="torch's kernels (torch._VF.*: oneDNN on CPU, cuDNN on GPU); fast, opaque"))
register(Engine("glass", glass.run, glass.trace,
                summary="rnnlab's cells step by step in Python; every gate of every step can be read"))
register(Engine("native", native.run,
                summary="rnnlab's C++ recurrence: all steps' input and weight-gradient GEMMs at once, fused gates"))
register(Engine("auto", native.run_auto,
                summary="the default: native where it is faster than torch's kernels (gru, rnn), fused elsewhere"))

__all__ = ["ENGINES", "Engine", "get_engine", "register", "tracing_engine"]
