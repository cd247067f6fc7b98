"""One trainer for every task: the loop is written out here, the task supplies data, model, loss, metrics.

    for epoch:                                   (batches are a pure function of (seed, epoch))
        for step, indices in batches[start:]:    (start > 0 when resuming mid-epoch)
            this process's share of the global batch -> collate -> task.loss -> sum / global count
            backward (DDP averages gradients) -> clip -> optimizer step -> LR schedule step
            every `checkpoint_every` steps: atomic checkpoint
        evaluate on valid -> metrics.jsonl -> keep best weights -> early stopping -> checkpoint
    best weights -> evaluate valid and test -> bundle (RUN_DIR/bundle)

Run directory (only rank 0 writes):
    config.json             the resolved run config
    checkpoint.safetensors  latest state: model, optimizer, scheduler, RNG, position (see checkpoint.py)
    best.safetensors        weights of the best epoch on the selection metric
    metrics.jsonl           one JSON line per epoch
    bundle/                 the trained model (rnnlab.bundle), written at the end

Data parallel: launched under torchrun (WORLD_SIZE > 1), every process builds the same batches; each
takes a contiguous 1/N of every global batch, and the loss is divided by the batch's item count summed
over processes, so the averaged gradient equals single-process training on the same global batch
(up to float reduction order). Backend: gloo on CPU, nccl on GPU.

Determinism: with the same seed, two runs (and a run resumed from a checkpoint) take the same batches
and the same dropout masks. State carried across batches (Task.loss `carry`: a language model's hidden
state) is in mid-epoch checkpoints too, so a resumed language model continues exactly (single process;
under DDP a resume restarts the carried state, as at an epoch start).
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from rnnlab.checkpoint import atomic_write_bytes, load_state, rng_state, save_state, set_rng_state
from rnnlab.config import RunConfig, TrainConfig, config_from_dict, to_dict
from rnnlab.errors import UserError
from rnnlab.files import read_json
from rnnlab.precision import PRECISIONS
from rnnlab.precision import autocast as precision_autocast
from rnnlab.precision import describe as describe_precision
from rnnlab.precision import resolve as resolve_precision
from rnnlab.tasks import Task, get_task_class

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
LOWER_IS_BETTER = ("loss", "perplexity", "ppl", "error", "mse", "mae", "rmse", "wer", "cer", "nll")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.run_dir or f"runs/{cfg.task}")


def metric_mode(task: Task, metric: str) -> str:
    """"max" or "min" for the selection metric: the task's own mode for its metric, else by name."""
    if metric == task.metric:
        return task.metric_mode
    return "min" if any(word in metric.lower() for word in LOWER_IS_BETTER) else "max"


def default_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, with torch's fused kernel where it supports the parameters' device and dtype (CPU since
    torch 2.4): the same update in one kernel per step instead of a loop of small ops (measured 4.5x
    less optimizer CPU time). Anywhere else torch's default AdamW, exactly as before."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch, or a device/dtype without the kernel
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def lr_factor(tc: TrainConfig, step: int, total_steps: int, time_progress: float = 0.0) -> float:
    """Multiplier of the base LR after `step` optimizer steps: linear warmup, then the schedule.
    With a time budget (train.max_minutes), progress is the larger of the step and time fractions, so
    the schedule reaches its end when the budget is spent however fast the machine is."""
    if tc.warmup_steps and step < tc.warmup_steps:
        return (step + 1) / tc.warmup_steps
    progress = min(1.0, max(time_progress, (step - tc.warmup_steps) / max(1, total_steps - tc.warmup_steps)))
    if tc.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if tc.schedule == "linear":
        return 1.0 - progress
    return 1.0


def check_train_config(tc: TrainConfig) -> None:
    checks = [
        (tc.epochs >= 1, f"train.epochs must be >= 1, got {tc.epochs}"),
        (tc.batch_size >= 1 and tc.eval_batch_size >= 1, "train.batch_size and train.eval_batch_size must be >= 1"),
        (math.isfinite(tc.lr) and tc.lr > 0, f"train.lr must be a finite number > 0, got {tc.lr}"),
        (math.isfinite(tc.weight_decay) and tc.weight_decay >= 0,
         f"train.weight_decay must be a finite number >= 0, got {tc.weight_decay}"),
        (math.isfinite(tc.clip_norm), f"train.clip_norm must be a finite number, got {tc.clip_norm}"),
        (math.isfinite(tc.max_minutes) and tc.max_minutes >= 0,
         f"train.max_minutes must be >= 0 (0 = no budget), got {tc.max_minutes}"),
        (tc.threads >= 0, f"train.threads must be >= 1, or 0 for torch's default, got {tc.threads}"),
        (0 <= tc.seed < 2**63, f"train.seed must be an integer in 0 .. 2**63 - 1, got {tc.seed}"),
        (tc.schedule in ("constant", "cosine", "linear"), f"train.schedule must be constant, cosine or linear, got {tc.schedule!r}"),
        (tc.precision in PRECISIONS, f"train.precision must be auto, fp32 or bf16, got {tc.precision!r}"),
        (tc.device in ("cpu", "cuda", "auto"), f"train.device must be cpu, cuda or auto, got {tc.device!r}"),
        (tc.optimizer in ("adamw", "task"), f"train.optimizer must be adamw or task, got {tc.optimizer!r}"),
        (tc.patience >= 0 and tc.checkpoint_every >= 0 and tc.warmup_steps >= 0 and tc.clip_norm >= 0,
         "train.patience, checkpoint_every, warmup_steps and clip_norm must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when not under torchrun)."""

    def __init__(self, device_pref: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available")
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.initialized_here = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
            self.initialized_here = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, indices: list[int]) -> list[int]:
        """This rank's contiguous part of a global batch (parts differ in size by at most one)."""
        if self.world == 1:
            return indices
        if len(indices) < self.world:
            raise UserError(f"a batch of {len(indices)} examples cannot be split over {self.world} processes: "
                            f"raise train.batch_size")
        return [int(i) for i in np.array_split(np.asarray(indices), self.world)[self.rank]]

    def sum(self, values: list[float]) -> list[float]:
        """Sum small numbers over all processes."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def max(self, values: list[float]) -> list[float]:
        """The largest of each number over all processes."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    def replica_spread(self, model: torch.nn.Module) -> float:
        """Largest difference of any parameter between processes (0.0 = identical replicas)."""
        if self.world == 1:
            return 0.0
        spread = 0.0
        for p in model.parameters():
            hi, lo = p.detach().clone(), p.detach().clone()
            dist.all_reduce(hi, op=dist.ReduceOp.MAX)
            dist.all_reduce(lo, op=dist.ReduceOp.MIN)
            spread = max(spread, (hi - lo).abs().max().item())
        return spread

    def close(self) -> None:
        if self.initialized_here:
            dist.destroy_process_group()


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _carry_to(carry: Any, device: torch.device) -> Any:
    """A checkpointed carry (None, a tensor, or a tuple of them) on `device`."""
    if isinstance(carry, (tuple, list)):
        return tuple(_carry_to(c, device) for c in carry)
    return carry.to(device) if isinstance(carry, torch.Tensor) else carry


def prepare_task(cfg: RunConfig) -> tuple[Task, dict[str, list[dict]]]:
    """Construct the task, read every split, fit on train, encode: (task, {split: features})."""
    task = get_task_class(cfg.task)(cfg.data, cfg.model)
    examples = {split: task.read(split) for split in task.splits()}
    if not examples.get("train"):
        raise UserError("the training split is empty")
    task.fit(examples["train"])
    return task, {split: [task.encode(e) for e in ex] for split, ex in examples.items()}


def evaluate(task: Task, model: torch.nn.Module, features: list[dict], batch_size: int, device: torch.device,
             precision: str = "fp32") -> dict[str, float]:
    """Task metrics over one split, in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    batches = task.batches(features, batch_size, shuffle=False)
    try:
        with precision_autocast(resolve_precision(precision, device), device):
            return task.evaluate(model, (_to(task.collate([features[i] for i in b]), device) for b in batches))
    finally:
        model.train(was_training)


def train(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, command: str = "",
          echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train `cfg` in its run directory; returns the final summary (also in the bundle's metrics.json).

    resume: continue from RUN_DIR/checkpoint.safetensors (config read from RUN_DIR/config.json by the
    caller). overwrite: start afresh even if RUN_DIR has a checkpoint. echo: where per-epoch lines go
    (rank 0 only; None for silence).
    """
    from rnnlab.bundle import save_bundle

    tc = cfg.train
    check_train_config(tc)
    run_dir = run_dir_of(cfg)
    ckpt_path = run_dir / CHECKPOINT
    if not resume and ckpt_path.exists() and not overwrite:
        raise UserError(f"{run_dir} already holds a training run: continue it with --resume {run_dir}, "
                        f"or choose another run_dir (--run-dir / run_dir=...), or pass --force to start over")
    if resume and not ckpt_path.exists():
        raise UserError(f"{ckpt_path}: no checkpoint to resume from")
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    ddp = Dist(tc.device)
    say = echo if (echo is not None and ddp.main) else (lambda _msg: None)
    lock = RunLock(run_dir) if ddp.main else None  # one training run per run directory at a time
    try:
        # "auto" becomes what this machine runs natively; the run's config.json, its bundle and the
        # model card record the precision that was actually used
        requested = tc.precision
        tc.precision = resolve_precision(requested, ddp.device)
        return _train(cfg, ddp, run_dir, resume, command, say, save_bundle,
                      describe_precision(requested, tc.precision, ddp.device))
    finally:
        if lock is not None:
            lock.release()
        ddp.close()


def _train(cfg: RunConfig, ddp: Dist, run_dir: Path, resume: bool, command: str, say, save_bundle,
           precision_note: str) -> dict:
    from tqdm import tqdm

    tc = cfg.train
    device = ddp.device
    seed_everything(tc.seed)
    task, feats = prepare_task(cfg)
    model = task.build_model().to(device)  # seeded: the same initial weights on every rank
    n_params = sum(p.numel() for p in model.parameters())
    wrapped = model
    if ddp.world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    optimizer = task.configure_optimizer(model, tc.lr, tc.weight_decay) if tc.optimizer == "task" else None
    if optimizer is None:
        optimizer = default_optimizer(model, tc.lr, tc.weight_decay)
    steps_per_epoch = len(task.batches(feats["train"], tc.batch_size, shuffle=True, seed=tc.seed, epoch=0))
    total_steps = steps_per_epoch * tc.epochs
    time_progress = [0.0]  # fraction of train.max_minutes spent (updated every step when a budget is set)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(tc, s, total_steps, time_progress[0]))
    budget_s = tc.max_minutes * 60
    longest_step_s = 0.0  # the slowest training step so far: the time budget keeps room for one more

    metric = tc.metric or task.metric
    mode = metric_mode(task, metric)
    has_valid = "valid" in feats and len(feats["valid"]) > 0
    # position and bookkeeping: everything here goes into the checkpoint
    pos = {"epoch": 0, "step": 0, "global_step": 0, "epoch_loss_sum": 0.0, "epoch_count": 0.0,
           "best": None, "best_epoch": None, "bad_epochs": 0, "stopped": False, "stop_reason": None, "train_time_s": 0.0}

    if resume:
        state = _load_checkpoint(run_dir / CHECKPOINT)
        _restore(run_dir / CHECKPOINT, state, model, optimizer, scheduler, pos)
        say(f"resuming {run_dir} at epoch {pos['epoch'] + 1}, step {pos['step']}")
        if ddp.main:
            _truncate_metrics(run_dir / "metrics.jsonl", pos["epoch"])
    elif ddp.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in (CHECKPOINT, BEST, "metrics.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
        (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    say(f"task {cfg.task}: {len(feats['train'])} train examples"
        + "".join(f", {len(v)} {k}" for k, v in feats.items() if k != "train")
        + f"; model {n_params:,} parameters; {steps_per_epoch} steps/epoch × {tc.epochs} epochs"
        + (f" on {ddp.world} processes" if ddp.world > 1 else "") + f" ({device.type}, {precision_note})")

    # state a task carries from one batch to the next (a language model's hidden state; None for most
    # tasks). Mid-epoch checkpoints keep it, so a resumed language model goes on from the same state. Under
    # DDP each process carries its own rows and only rank 0 writes, so there a resume restarts it.
    carry: list[Any] = [None]
    resumed_carry = state.get("carry") if resume and ddp.world == 1 and pos["step"] > 0 else None

    def checkpoint() -> None:
        if ddp.main:
            save_state(run_dir / CHECKPOINT, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "scheduler": scheduler.state_dict(), "rng": rng_state(),
                                              "position": dict(pos),
                                              **({"carry": carry[0]} if ddp.world == 1 and pos["step"] > 0 else {})})

    autocast = precision_autocast(tc.precision, device)
    wrapped.train()
    while pos["epoch"] < tc.epochs and not pos["stopped"]:
        epoch = pos["epoch"]
        batches = task.batches(feats["train"], tc.batch_size, shuffle=True, seed=tc.seed, epoch=epoch)
        bar = tqdm(total=len(batches), initial=pos["step"], desc=f"epoch {epoch + 1}/{tc.epochs}", unit="batch",
                   disable=not (tc.progress and ddp.main), file=sys.stderr, leave=False, dynamic_ncols=True)
        carry[0], resumed_carry = _carry_to(resumed_carry, device), None
        t_start, items_seen = time.perf_counter(), 0.0
        for step in range(pos["step"], len(batches)):
            t_step = time.perf_counter()
            local = ddp.share(batches[step])
            batch = _to(task.collate([feats["train"][i] for i in local]), device)
            with autocast:
                out = task.loss(wrapped, batch, carry[0])
            loss_sum, count = ddp.sum([out.total.detach().float().item(), float(out.count)])
            if count <= 0:
                raise UserError(f"batch {step} of epoch {epoch + 1} has nothing to train on (count 0)")
            if not math.isfinite(loss_sum):
                # diverged: stop before the step spreads NaN into the weights; the checkpoint and best
                # weights on disk are from before it (nothing is saved after this point)
                raise UserError(f"training diverged: the loss is {loss_sum / count} at epoch {epoch + 1}, step {step + 1} "
                                f"(lr {scheduler.get_last_lr()[0]:.3g}); {run_dir} keeps the last good checkpoint. "
                                f"Lower train.lr (or set train.clip_norm) and start again with --force")
            # DDP averages gradients over N processes: scale so the result is sum / global count
            loss = out.total.float() * (ddp.world / count)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.clip_norm)
            optimizer.step()
            now = time.perf_counter()
            spent_s = pos["train_time_s"] + now - t_start
            longest_step_s = max(longest_step_s, now - t_step)
            next_end_s = spent_s + longest_step_s  # when one more step would end, at worst so far
            if budget_s:
                # one clock for all processes: the same LR everywhere and the same step to stop at
                spent_s, next_end_s = ddp.max([spent_s, next_end_s])
                time_progress[0] = spent_s / budget_s
            scheduler.step()
            carry[0] = out.carry
            pos["step"], pos["global_step"] = step + 1, pos["global_step"] + 1
            pos["epoch_loss_sum"] += loss_sum
            pos["epoch_count"] += count
            items_seen += count
            elapsed = time.perf_counter() - t_start
            bar.set_postfix(loss=f"{pos['epoch_loss_sum'] / pos['epoch_count']:.4f}",
                            items_s=f"{items_seen / max(elapsed, 1e-9):.0f}", refresh=False)
            bar.update(1)
            if tc.checkpoint_every and pos["global_step"] % tc.checkpoint_every == 0:
                pos["train_time_s"] += time.perf_counter() - t_start
                t_start = time.perf_counter()
                checkpoint()
            if budget_s and next_end_s > budget_s:
                # out of time (another step would end past the budget, so training time stays within it):
                # evaluate this (partial) epoch, then finish
                pos["stopped"] = True
                pos["stop_reason"] = "time budget spent"
                break
        bar.close()
        pos["train_time_s"] += time.perf_counter() - t_start

        record: dict[str, Any] = {"epoch": epoch + 1, "step": pos["global_step"],
                                  "train_loss": pos["epoch_loss_sum"] / max(pos["epoch_count"], 1),
                                  "lr": scheduler.get_last_lr()[0], "train_time_s": round(pos["train_time_s"], 3)}
        improved = True
        if has_valid:
            valid = evaluate(task, model, feats["valid"], tc.eval_batch_size, device, tc.precision)
            if metric not in valid:
                raise UserError(f"train.metric={metric!r} is not a metric of task {cfg.task!r} "
                                f"(it reports: {', '.join(valid)})")
            record.update({f"valid_{k}": v for k, v in valid.items()})
            value = valid[metric]
            improved = pos["best"] is None or (value > pos["best"] if mode == "max" else value < pos["best"])
        if has_valid and not math.isfinite(value):
            raise UserError(f"training diverged: valid {metric} is {value} after epoch {epoch + 1}; {run_dir} keeps "
                            f"the last good checkpoint. Lower train.lr and start again with --force")
        if improved:
            pos["best"] = record.get(f"valid_{metric}")
            pos["best_epoch"] = epoch + 1
            pos["bad_epochs"] = 0
            if ddp.main:
                save_state(run_dir / BEST, {"model": model.state_dict(), "epoch": epoch + 1})
        else:
            pos["bad_epochs"] += 1
        if tc.patience and pos["bad_epochs"] >= tc.patience:
            pos["stopped"] = True
            pos["stop_reason"] = "early stop"
            record["stopped_early"] = True
        say(f"epoch {epoch + 1}/{tc.epochs}  train_loss {record['train_loss']:.4f}"
            + (f"  valid_{metric} {record[f'valid_{metric}']:.4f}" if has_valid else "")
            + ("  *" if improved else "") + (f"  ({pos.get('stop_reason') or 'stopped'})" if pos["stopped"] else ""))
        if ddp.main:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
        pos.update(epoch=epoch + 1, step=0, epoch_loss_sum=0.0, epoch_count=0.0)
        checkpoint()

    # DDP keeps replicas identical by construction (same init, same averaged gradients): check it
    spread = ddp.replica_spread(model)
    if spread > 0:
        say(f"warning: parameters differ between processes by up to {spread:.3g}")
    # the best epoch's weights (all ranks read the file rank 0 wrote)
    if ddp.world > 1:
        dist.barrier()
    if (run_dir / BEST).exists():
        model.load_state_dict(_load_checkpoint(run_dir / BEST)["model"])
    summary: dict[str, Any] = {"task": cfg.task, "metric": metric, "best_epoch": pos["best_epoch"],
                               "epochs_run": pos["epoch"], "stopped_early": pos.get("stop_reason") == "early stop",
                               "out_of_time": pos.get("stop_reason") == "time budget spent",
                               "train_time_s": round(pos["train_time_s"], 3), "parameters": n_params,
                               "world_size": ddp.world, "replica_spread": spread, "precision": precision_note}
    for split in ("valid", "test"):
        if split in feats and feats[split]:
            summary[split] = evaluate(task, model, feats[split], tc.eval_batch_size, device, tc.precision)
    if ddp.main:
        bundle_dir = save_bundle(run_dir / "bundle", task, model, cfg, summary, command=command)
        say(f"bundle: {bundle_dir}" + "".join(f"  {s}_{metric} {summary[s][metric]:.4f}"
                                               for s in ("valid", "test") if s in summary and metric in summary[s]))
    return summary


class RunLock:
    """An exclusive lock on a run directory (RUN_DIR/.lock, flock): a second `rnnlab train` into the same
    directory gets one line instead of interleaving its metrics and bundle with the first. The kernel
    drops the lock when the process ends, however it ends, so a crashed run can always be resumed."""

    def __init__(self, run_dir: Path):
        import fcntl

        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / ".lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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


def _restore(path: Path, state: dict[str, Any], model, optimizer, scheduler, pos: dict[str, Any]) -> None:
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
    if not isinstance(state["position"], dict) or set(state["position"]) - set(pos):
        raise UserError(f"{path}: its position record is not this rnnlab's")
    set_rng_state(state["rng"])
    pos.update(state["position"])


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return load_state(path)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read checkpoint ({e})") from None


def _truncate_metrics(path: Path, completed_epochs: int) -> None:
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
    cfg = config_from_dict(raw, str(path))
    cfg.run_dir = str(run_dir)
    return cfg
