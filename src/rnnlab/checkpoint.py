"""Pickle-free, atomic storage of nested training state (model, optimizer, scheduler, RNG, position).

A checkpoint is ONE safetensors file: the tensors of the state go in as tensors, and the structure
around them (dicts, lists, numbers, strings) goes in the file's metadata as JSON, with each tensor
replaced by {"__tensor__": "<key>"}. Loading rebuilds the same nested structure; nothing is ever
unpickled, so a checkpoint from an untrusted source can't run code.

Writes are atomic: write a temporary file in the same directory, flush + fsync it, os.replace it
over the target, then fsync the directory (so the rename itself survives a power cut). A crash
at any moment leaves either the old checkpoint or the new one, never a half-written file.

Encodings for things JSON lacks:
  tensor                  {"__tensor__": key}           (the tensor lives in the safetensors body)
  dict with non-str keys  {"__items__": [[k, v], ...]}  (optimizer state is keyed by param index)
  tuple                   {"__tuple__": [...]}          (e.g. Adam's betas; python's RNG state)
  numpy array             {"__ndarray__": key}          (numpy's RNG state), stored as a tensor
"""
from __future__ import annotations

import json
import os
import random
import signal
import struct
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT = "rnnlab.checkpoint/1"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers only ever see the old or the complete new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: give the file the user's usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM held back until the block ends, then delivered to the handlers there were.

    For a step made of several renames (a bundle directory swapped in, rnnlab.bundle.save_bundle): an
    interrupt between two of them would leave neither the old state nor the new one. One write of one file
    needs no such guard (atomic_write_bytes: a temporary file, then one os.replace). Python runs signal
    handlers in the main thread only, so elsewhere this holds nothing back (and needs not)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])  # now: KeyboardInterrupt, the CLI's SIGTERM exit, or the default


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no other POSIX query)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: str | Path) -> None:
    """Make a rename/creation in `directory` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        # contiguous private copy: safetensors refuses views and tensors sharing storage (tied weights)
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(tensors)}"
        # widened to int64 when unsigned: not every safetensors/torch build has uint16/32/64 tensors
        arr = obj.astype(np.int64) if obj.dtype.kind == "u" else obj
        tensors[key] = torch.from_numpy(np.ascontiguousarray(arr).copy())
        return {"__ndarray__": key, "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint (only tensors and JSON values)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy().astype(obj["dtype"])
        if "__items__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def dumps_state(state: dict[str, Any]) -> bytes:
    """Nested state -> safetensors bytes (structure as JSON metadata)."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, tensors)
    return st_save(tensors, metadata={"format": FORMAT, "structure": json.dumps(structure, allow_nan=True)})


def loads_state(data: bytes) -> dict[str, Any]:
    """Inverse of dumps_state. ValueError if the bytes are not a checkpoint."""
    if len(data) < 8:
        raise ValueError("file too short to be a checkpoint")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise ValueError("truncated checkpoint (header runs past the end of the file)")
    try:
        header = json.loads(data[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not a safetensors file (bad header)") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"not an rnnlab checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for truncated bodies
        raise ValueError(f"corrupt checkpoint body: {e}") from None
    return _decode(json.loads(meta["structure"]), tensors)


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    atomic_write_bytes(path, dumps_state(state))


def load_state(path: str | Path) -> dict[str, Any]:
    return loads_state(Path(path).read_bytes())


# ---- random number generators ---------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Every RNG that training touches: python's `random`, numpy's global, torch CPU (and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
