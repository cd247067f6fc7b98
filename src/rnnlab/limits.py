"""What one input may be: the limits every reader and verb checks before a model runs.

A user's input can be too large to answer in reasonable time (a 1 MB "sentence"), too odd to mean anything (a
value of 1e308 in a CSV series, a one-sample recording) or a request the model cannot honour (a beam wider than
its vocabulary). Each of these is refused in one line that names the file, the line or row, the value and the
limit to change, instead of hanging, printing NaN or answering something confidently wrong.

The limits live here, in one dataclass, so `train`, `evaluate`, the prediction verbs and the readers behind
them agree. They are settable three ways, later ones winning:

    defaults            the values below
    RNNLAB_LIMITS       environment: "max_line_chars=20000,max_beam=100"
    --limit NAME=VALUE  on any verb (repeatable): `rnnlab translate BUNDLE --limit max_line_chars=20000`

`current()` is what readers consult; `docs/limits.md` lists every limit and what each refusal says. The studio
server has its own per-request limits (rnnlab.studio.Limits: body bytes, characters, tokens) on top of these.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from rnnlab.errors import UserError


@dataclass(frozen=True)
class InputLimits:
    # text: one line is one input (a sentence to translate, an utterance to classify, a session of events)
    max_line_chars: int = 10_000  # characters in one input line; a 1 MB line would take minutes to translate
    max_input_tokens: int = 1_000  # tokens (pieces, words, events, calls) of one input, as its task counts them
    # files given to predict / evaluate / train, and uploads
    max_file_bytes: int = 512 * 1024 * 1024  # one input file (a CSV, a list of sessions, a manifest)
    # search
    max_beam: int = 64  # widest beam any search accepts (and never wider than the model's vocabulary)
    max_top: int = 1_000  # largest "top k" a verb accepts (e.g. detect --top-g; never more than the vocabulary)
    max_horizon: int = 10_000  # most steps a forecast may be asked for
    # audio
    min_audio_seconds: float = 0.025  # shorter than one 25 ms analysis window holds nothing to recognise
    max_audio_seconds: float = 600.0  # one recording given to transcribe / evaluate / train
    # numbers
    max_abs_value: float = 1e15  # |value| in a numeric input (a CSV series); larger overflows float32 math


_ENV = "RNNLAB_LIMITS"
_active: InputLimits | None = None


def names() -> list[str]:
    return [f.name for f in fields(InputLimits)]


def parse(pairs: list[str], base: InputLimits | None = None, *, source: str = "--limit") -> InputLimits:
    """["max_beam=100", ...] -> limits with those set; a UserError naming the item for an unknown name or a
    value that is not a positive number."""
    out = base or InputLimits()
    types = {f.name: f.type for f in fields(InputLimits)}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UserError(f"{source} expects NAME=VALUE, got {pair!r} (names: {', '.join(names())})")
        if name not in types:
            raise UserError(f"{source} {pair}: unknown limit {name!r} (names: {', '.join(names())})")
        kind = int if types[name] in (int, "int") else float
        try:
            number = kind(value.replace("_", ""))
        except ValueError:
            raise UserError(f"{source} {pair}: {name} needs {'a whole' if kind is int else 'a'} number, "
                            f"got {value!r}") from None
        if not number > 0 or number != number or number == float("inf"):
            raise UserError(f"{source} {pair}: {name} must be a finite number above 0")
        out = replace(out, **{name: number})
    return out


def from_environment() -> InputLimits:
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return InputLimits()
    return parse([p for p in raw.split(",") if p.strip()], source=_ENV)


def configure(pairs: list[str] | None = None) -> InputLimits:
    """Set the limits of this process: the environment's, then `pairs` (the --limit items) on top."""
    global _active
    _active = parse(pairs or [], from_environment())
    return _active


def current() -> InputLimits:
    """The limits in force (configure() once per process, from the CLI; the defaults + environment until then)."""
    global _active
    if _active is None:
        _active = from_environment()
    return _active


def reset() -> None:
    """Forget configured limits (tests)."""
    global _active
    _active = None


def as_dict(limits: InputLimits | None = None) -> dict[str, Any]:
    limits = limits or current()
    return {f.name: getattr(limits, f.name) for f in fields(InputLimits)}


def hint(name: str) -> str:
    """How to raise one limit, for the end of a refusal: "(limit max_line_chars=10000: --limit max_line_chars=N)"."""
    value = getattr(current(), name)
    shown = f"{value:g}" if isinstance(value, float) else value  # 1e+15, not 1000000000000000.0
    return f"(limit {name}={shown}; raise with --limit {name}=N)"
