"""Which floating-point precision a run uses, chosen from what the machine runs natively.

bf16 autocast pays only where the hardware computes in bf16: on an Intel CPU with AMX or AVX512-BF16
oneDNN runs bf16 matmuls several times faster than fp32 and has a bf16 LSTM kernel. Elsewhere (an AMD
EPYC with AVX2 only, say) oneDNN has no bf16 LSTM at all -- `nn.LSTM` under CPU bf16 autocast raises
"could not create a primitive descriptor" -- and bf16 matmuls are emulated, hundreds of times slower.

    precision = "auto"   bf16 where native, fp32 elsewhere (the default of every shipped config)
    precision = "bf16"   bf16 autocast; refused with one line where it is not native
    precision = "fp32"   float32 throughout

`RNNLAB_PRECISION=fp32|bf16` in the environment decides what "auto" means for every run started under it
(`pytest --precision bf16` sets it, so the whole suite can be run at each precision the CPU supports); an
explicit fp32 or bf16 in a config is left as written.

A figure computed in a precision can be compared with another only to within that precision:
`rel_tolerance(resolved)` is the relative error that comparisons of losses and weights derive from.
`machine()` is the description every benchmark JSON and run records: CPU model, torch's CPU capability,
native bf16 yes/no and threads.
"""
from __future__ import annotations

import functools
import os
import platform
from contextlib import nullcontext
from typing import Any, ContextManager

import torch

from rnnlab.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16")
ENV = "RNNLAB_PRECISION"
# unit roundoff (half the gap between 1 and the next number): 24 significand bits in fp32, 8 in bf16
UNIT_ROUNDOFF = {"fp32": 2.0 ** -24, "bf16": 2.0 ** -8}
# CPU flags (as /proc/cpuinfo spells them) of the instructions that compute in bf16 natively
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """torch's name for the vector instructions its CPU kernels use here (AVX2, AVX512, ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - an old torch without the query
        return "unknown"


def cpu_native_bf16() -> bool:
    """True where this CPU computes bf16 in hardware and oneDNN has its bf16 kernels (the LSTM too).

    Both must hold: the flags say what the silicon does, oneDNN's check what torch's build uses."""
    if not any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS):
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - a build without oneDNN
        return False


def native_bf16(device: torch.device | str = "cpu") -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return cpu_native_bf16()


def check_precision(name: str, key: str = "train.precision") -> None:
    if name not in PRECISIONS:
        raise UserError(f"{key} must be auto, fp32 or bf16, got {name!r}")


def resolve(requested: str, device: torch.device | str = "cpu", key: str = "train.precision") -> str:
    """"fp32" or "bf16" for a requested precision on `device`; an explicit bf16 where the hardware has
    none is refused in one line (a silent fp32 run would be mistaken for a bf16 one, and bf16 itself
    either fails in oneDNN or runs hundreds of times slower)."""
    check_precision(requested, key)
    device = torch.device(device)
    if requested == "auto" and forced() != "auto":
        requested, key = forced(), ENV
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "bf16" and not native_bf16(device):
        where = (f"this CPU ({cpu_model()}, {cpu_capability()})" if device.type == "cpu"
                 else f"this {device.type} device")
        raise UserError(f"{key}=bf16: {where} has no native bf16 (oneDNN has no bf16 LSTM here and bf16 "
                        f"matmuls are emulated); use {key.split('.')[-1]}=auto or fp32")
    return requested


def forced() -> str:
    """What RNNLAB_PRECISION makes of "auto" ("auto" where it is unset)."""
    value = os.environ.get(ENV, "").strip() or "auto"
    check_precision(value, ENV)
    return value


def rel_tolerance(resolved: str) -> float:
    """The relative difference two computations of one figure in `resolved` precision may show when only
    the order of their sums differs (another batch split, another kernel): one unit in the last place,
    two unit roundoffs. bf16 keeps 8 significand bits, so a value rounded to bf16 either way can move by
    2^-7 (0.8 %); the same value in fp32 by 2^-23. A comparison that also allows for other effects
    (training steps compounding) takes the larger of this and its own floor."""
    return 2 * UNIT_ROUNDOFF[resolved]


def describe(requested: str, resolved: str, device: torch.device | str = "cpu") -> str:
    """What a run's first line says: "fp32 (auto: no native bf16 on this CPU)"."""
    if requested != "auto":
        return resolved
    if forced() != "auto":
        return f"{resolved} (auto: {ENV}={forced()})"
    kind = torch.device(device).type
    why = f"native bf16 on this {'CPU' if kind == 'cpu' else kind}" if resolved == "bf16" \
        else f"no native bf16 on this {'CPU' if kind == 'cpu' else kind}"
    return f"{resolved} (auto: {why})"


def autocast(resolved: str, device: torch.device | str = "cpu") -> ContextManager:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if resolved == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()


def machine(threads: int | None = None) -> dict[str, Any]:
    """The machine as every benchmark JSON records it."""
    return {"cpu": cpu_model(), "cpu_capability": cpu_capability(), "native_bf16": cpu_native_bf16(),
            "threads": threads if threads is not None else torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "platform": platform.platform()}
