"""The run directory's files and the guards around them (only rank 0 writes):

    config.json             the resolved run config (precision as actually used)
    checkpoint.safetensors  latest state: model, optimizer, scheduler, RNG, position (see checkpoint.py)
    best.safetensors        weights of the best epoch on the selection metric
    metrics.jsonl           one JSON line per epoch
    bundle/                 the trained model (rnnlab.bundle), written at the end
    .lock                   held while a run trains here (RunLock)

Every file is written whole or not at all (checkpoint.atomic_write_bytes: a temporary `.NAME.*.tmp`, then
one rename; the bundle a temporary directory swapped in), so an interrupt at any moment leaves the last
complete checkpoint or none, and the last complete bundle or none. A process killed outright (SIGKILL,
power) may leave those temporaries; the next run in the directory removes them (remove_leftovers).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from rnnlab.checkpoint import atomic_write_bytes, load_state, set_rng_state
from rnnlab.config import RunConfig, config_from_dict
from rnnlab.errors import UserError
from rnnlab.files import read_json

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.run_dir or f"runs/{cfg.task}")


class RunLock:
    """An exclusive lock on a run directory (RUN_DIR/.lock, flock): a second `rnnlab train` into the same
    directory gets one line instead of interleaving its metrics and bundle with the first. The kernel
    drops the lock when the process ends, however it ends, so a crashed run can always be resumed."""

    def __init__(self, run_dir: Path):
        import fcntl

        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / ".lock"
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise UserError(f"{run_dir} is in use by another training run (pid {holder}): wait for it to end, "
                            f"or choose another run_dir") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        import fcntl

        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def remove_leftovers(run_dir: Path) -> None:
    """Temporaries of writes a killed process never finished (`.checkpoint.safetensors.x1y2.tmp`,
    `.bundle.x1y2.tmp/`, `.bundle.old/`): nothing reads them, and only the run holding the lock writes here."""
    names = (CHECKPOINT, BEST, METRICS, "config.json", "bundle")
    old, bundle = run_dir / ".bundle.old", run_dir / "bundle"
    if old.is_dir() and not bundle.exists():
        old.rename(bundle)  # killed between the swap's two renames: the previous bundle goes back, not away
    for path in run_dir.glob(".*"):
        ours = any(path.name.startswith(f".{name}.") and path.name.endswith(".tmp") for name in names)
        if (ours or path.name == ".bundle.old") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif ours:
            path.unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return load_state(path)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read checkpoint ({e})") from None


def restore(path: Path, state: dict[str, Any], model, optimizer, scheduler, run) -> None:
    """Put a checkpoint's state into the run; a checkpoint of another run says so in one line."""
    missing = [k for k in ("model", "optimizer", "scheduler", "rng", "position") if k not in state]
    if missing:
        raise UserError(f"{path}: not a training checkpoint (no {', '.join(missing)})")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as e:
        first = " ".join(str(e).strip().splitlines()[:2])[:200]
        raise UserError(f"{path}: does not fit this run's config.json (from another run?): {first}") from None
    try:
        if not isinstance(state["position"], dict):
            raise ValueError("not a record")
        run.restore(state["position"])
    except ValueError:
        raise UserError(f"{path}: its position record is not this rnnlab's") from None
    set_rng_state(state["rng"])


def truncate_metrics(path: Path, completed_epochs: int) -> None:
    """Drop metric lines of epochs the checkpoint had not completed (they will be rewritten)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            record = None  # a line torn by a crash mid-write: its epoch is rerun and rewritten
        if isinstance(record, dict) and isinstance(record.get("epoch"), int) and record["epoch"] <= completed_epochs:
            keep.append(line)
    atomic_write_bytes(path, "".join(line + "\n" for line in keep).encode())


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config saved in a run directory (for --resume)."""
    path = Path(run_dir) / "config.json"
    raw = read_json(path, f"not found (is {run_dir} a run directory made by rnnlab train?)")
    if isinstance(raw, dict) and "format" in raw and "files" in raw:
        raise UserError(f"{run_dir} is a model bundle, not a run directory: resume the run directory that "
                        f"trained it (the one holding checkpoint.safetensors, e.g. {Path(run_dir).parent})")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a run config (expected a JSON object)")
    cfg = config_from_dict(raw, str(path), migrate=True)
    cfg.run_dir = str(run_dir)
    return cfg
