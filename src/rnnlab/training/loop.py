"""The training loop, in named pieces over one `Trainer` (see the package docstring for the outline)."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from rnnlab.checkpoint import atomic_write_bytes, rng_state, save_state
from rnnlab.config import RunConfig, to_dict
from rnnlab.errors import UserError
from rnnlab.precision import autocast as precision_autocast
from rnnlab.precision import describe as describe_precision
from rnnlab.precision import resolve as resolve_precision
from rnnlab.state import map_state
from rnnlab.tasks import Task
from rnnlab.training import adapt
from rnnlab.training.ddp import Dist
from rnnlab.training.run_dir import (
    BEST,
    CHECKPOINT,
    METRICS,
    RunLock,
    load_checkpoint,
    remove_leftovers,
    restore,
    run_dir_of,
    truncate_metrics,
)
from rnnlab.training.schedule import TimeBudget, lr_factor
from rnnlab.training.setup import (
    build_model,
    check_train_config,
    make_optimizer,
    metric_mode,
    prepare_task,
    seed_everything,
)
from rnnlab.training.state import RunState


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def evaluate(task: Task, model: torch.nn.Module, features: list[dict], batch_size: int, device: torch.device,
             precision: str = "fp32") -> dict[str, float]:
    """Task metrics over one split, in eval mode (restores the previous mode)."""
    from rnnlab.explain import eval_mode

    batches = task.batches(features, batch_size, shuffle=False)
    with eval_mode(model), precision_autocast(resolve_precision(precision, device), device):
        return task.evaluate(model, (_to(task.collate([features[i] for i in b]), device) for b in batches))


def calibrate(task: Task, model: torch.nn.Module, features: list[dict], batch_size: int, device: torch.device,
              precision: str = "fp32") -> dict[str, float]:
    """`task.calibrate` over one split (the valid one), in eval mode, as `evaluate` runs."""
    from rnnlab.explain import eval_mode

    batches = task.batches(features, batch_size, shuffle=False)
    with eval_mode(model), torch.no_grad(), precision_autocast(resolve_precision(precision, device), device):
        return task.calibrate(model, (_to(task.collate([features[i] for i in b]), device) for b in batches))


def train(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, command: str = "",
          echo: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train `cfg` in its run directory; returns the final summary (also in the bundle's metrics.json).

    resume: continue from RUN_DIR/checkpoint.safetensors (config read from RUN_DIR/config.json by the
    caller). overwrite: start afresh even if RUN_DIR has a checkpoint. echo: where per-epoch lines go
    (rank 0 only; None for silence).
    """
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
    lock = RunLock(run_dir) if ddp.main else None  # one training run per run directory at a time
    try:
        # "auto" becomes what this machine runs natively; the run's config.json, its bundle and the
        # model card record the precision that was actually used
        requested = tc.precision
        tc.precision = resolve_precision(requested, ddp.device)
        trainer = Trainer(cfg, ddp, run_dir, command, echo, describe_precision(requested, tc.precision, ddp.device))
        trainer.setup(resume)
        while trainer.run.epoch < tc.epochs and not trainer.run.stopped:
            trainer.end_of_epoch(trainer.train_epoch())
        return trainer.finish()
    finally:
        if lock is not None:
            lock.release()
        ddp.close()


class Trainer:
    """One training run: the task, model, optimizer and schedule, and its `RunState`."""

    def __init__(self, cfg: RunConfig, ddp: Dist, run_dir: Path, command: str,
                 echo: Callable[[str], None] | None, precision_note: str):
        self.cfg, self.tc, self.ddp, self.run_dir, self.command = cfg, cfg.train, ddp, run_dir, command
        self.say = echo if (echo is not None and ddp.main) else (lambda _msg: None)
        self.precision_note = precision_note
        self.device = ddp.device
        self.run = RunState()

    # ---- setup ------------------------------------------------------------------------------------

    def setup(self, resume: bool) -> None:
        tc, ddp = self.tc, self.ddp
        seed_everything(tc.seed)
        self.task, self.feats = prepare_task(self.cfg)
        n_train = len(self.feats["train"])
        # the recipe sized for the data (training/adapt.py): before the model, the batches and the schedule
        changes = adapt.adapt_model(self.cfg, self.task, n_train)
        changes.update(adapt.adapt_batch(self.cfg, n_train))
        self.model = build_model(self.task).to(self.device)  # seeded: the same initial weights on every rank
        self.wrapped = ddp.wrap(self.model)
        self.optimizer = make_optimizer(self.task, self.model, tc)
        self.steps_per_epoch = len(self.task.batches(self.feats["train"], tc.batch_size, shuffle=True,
                                                     seed=tc.seed, epoch=0))
        changes.update(adapt.adapt_length(self.cfg, self.steps_per_epoch))
        self.adapted = {k: [old, new] for k, (old, new) in changes.items()}  # what the config said, what ran
        total_steps = self.steps_per_epoch * tc.epochs
        self.budget = TimeBudget(tc.max_minutes)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(tc, s, total_steps, self.budget.progress))
        self.metric = tc.metric or self.task.metric
        self.mode = metric_mode(self.task, self.metric)
        self.has_valid = len(self.feats.get("valid") or []) > 0
        self.resumed_carry = None
        if ddp.main:
            remove_leftovers(self.run_dir)
        if resume:
            self._resume()
        elif ddp.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for name in (CHECKPOINT, BEST, METRICS):
                (self.run_dir / name).unlink(missing_ok=True)
            atomic_write_bytes(self.run_dir / "config.json", (json.dumps(to_dict(self.cfg), indent=2) + "\n").encode())
        n_params = sum(p.numel() for p in self.model.parameters())
        self.say(f"task {self.cfg.task}: {len(self.feats['train'])} train examples"
                 + "".join(f", {len(v)} {k}" for k, v in self.feats.items() if k != "train")
                 + f"; model {n_params:,} parameters; {self.steps_per_epoch} steps/epoch × {tc.epochs} epochs"
                 + (f" on {ddp.world} processes" if ddp.world > 1 else "")
                 + f" ({self.device.type}, {self.precision_note})")
        for line in ([adapt.describe(changes, n_train)] + adapt.warnings(self.cfg, len(self.feats.get("valid") or []))
                     + list(self.task.fit_notes)):
            if line:
                self.say(line)
        self.autocast = precision_autocast(tc.precision, self.device)
        self.wrapped.train()

    def _resume(self) -> None:
        path = self.run_dir / CHECKPOINT
        state = load_checkpoint(path)
        restore(path, state, self.model, self.optimizer, self.scheduler, self.run)
        self.say(f"resuming {self.run_dir} at epoch {self.run.epoch + 1}, step {self.run.step}")
        if self.ddp.main:
            truncate_metrics(self.run_dir / METRICS, self.run.epoch)
        # a mid-epoch checkpoint keeps a language model's carried state, so it goes on from the same state.
        # Under DDP each process carries its own rows and only rank 0 writes, so there a resume restarts it.
        if self.ddp.world == 1 and self.run.step > 0:
            self.resumed_carry = state.get("carry")

    def checkpoint(self) -> None:
        if not self.ddp.main:
            return
        run = self.run
        carry = {"carry": run.carry} if self.ddp.world == 1 and run.step > 0 else {}
        save_state(self.run_dir / CHECKPOINT, {"model": self.model.state_dict(),
                                               "optimizer": self.optimizer.state_dict(),
                                               "scheduler": self.scheduler.state_dict(), "rng": rng_state(),
                                               "position": run.position(), **carry})

    # ---- one epoch ----------------------------------------------------------------------------------

    def train_epoch(self) -> int:
        """Train from the run's position to the end of the epoch (or of the time budget); returns the epoch."""
        from tqdm import tqdm

        tc, run = self.tc, self.run
        epoch = run.epoch
        batches = self.task.batches(self.feats["train"], tc.batch_size, shuffle=True, seed=tc.seed, epoch=epoch)
        bar = tqdm(total=len(batches), initial=run.step, desc=f"epoch {epoch + 1}/{tc.epochs}", unit="batch",
                   disable=not (tc.progress and self.ddp.main), file=sys.stderr, leave=False, dynamic_ncols=True)
        run.carry = map_state(self.resumed_carry, lambda t: t.to(self.device))
        self.resumed_carry = None
        self.t_start, items_seen = time.perf_counter(), 0.0
        for step in range(run.step, len(batches)):
            out_of_time, count = self.train_step(epoch, step, batches[step])
            items_seen += count
            elapsed = time.perf_counter() - self.t_start
            bar.set_postfix(loss=f"{run.epoch_loss_sum / run.epoch_count:.4f}",
                            items_s=f"{items_seen / max(elapsed, 1e-9):.0f}", refresh=False)
            bar.update(1)
            if tc.checkpoint_every and run.global_step % tc.checkpoint_every == 0:
                run.train_time_s += time.perf_counter() - self.t_start
                self.t_start = time.perf_counter()
                self.checkpoint()
            if out_of_time:
                # another step would end past the budget, so training time stays within it: evaluate this
                # (partial) epoch, then finish
                run.stopped, run.stop_reason = True, "time budget spent"
                break
        bar.close()
        run.train_time_s += time.perf_counter() - self.t_start
        return epoch

    def train_step(self, epoch: int, step: int, indices: list[int]) -> tuple[bool, float]:
        """One optimizer step on this process's share of a global batch: (out of time?, items)."""
        t_step, run, ddp = time.perf_counter(), self.run, self.ddp
        batch = _to(self.task.collate([self.feats["train"][i] for i in ddp.share(indices)]), self.device)
        with self.autocast:
            out = self.task.loss(self.wrapped, batch, run.carry)
        loss_sum, count = ddp.sum([out.total.detach().float().item(), float(out.count)])
        if count <= 0:
            raise UserError(f"batch {step} of epoch {epoch + 1} has nothing to train on (count 0)")
        if not math.isfinite(loss_sum):
            # diverged: stop before the step spreads NaN into the weights; the checkpoint and best
            # weights on disk are from before it (nothing is saved after this point)
            raise UserError(f"training diverged: the loss is {loss_sum / count} at epoch {epoch + 1}, step {step + 1} "
                            f"(lr {self.scheduler.get_last_lr()[0]:.3g}); "
                            f"{self.run_dir} keeps the last good checkpoint. "
                            f"Lower train.lr (or set train.clip_norm) and start again with --force")
        # DDP averages gradients over N processes: scale so the result is sum / global count
        loss = out.total.float() * (ddp.world / count)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.tc.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.clip_norm)
        self.optimizer.step()
        now = time.perf_counter()
        out_of_time = self.budget.after_step(run.train_time_s + now - self.t_start, now - t_step, ddp)
        self.scheduler.step()
        run.carry = out.carry
        run.step, run.global_step = step + 1, run.global_step + 1
        run.epoch_loss_sum += loss_sum
        run.epoch_count += count
        return out_of_time, count

    # ---- end of an epoch ----------------------------------------------------------------------------

    def end_of_epoch(self, epoch: int) -> None:
        """Validate, keep the best weights, early stopping, metrics.jsonl, checkpoint."""
        run, metric = self.run, self.metric
        record: dict[str, Any] = {"epoch": epoch + 1, "step": run.global_step,
                                  "train_loss": run.epoch_loss_sum / max(run.epoch_count, 1),
                                  "lr": self.scheduler.get_last_lr()[0], "train_time_s": round(run.train_time_s, 3)}
        improved = True
        if self.has_valid:
            value = self._validate(epoch, record)
            improved = run.best is None or self._better(value, run.best) or self._tie_won(value, record)
            if run.first is None:
                run.first = value
        if improved:
            run.best, run.best_epoch, run.best_step, run.bad_epochs = (record.get(f"valid_{metric}"), epoch + 1,
                                                                       run.global_step, 0)
            run.best_loss = record.get("valid_loss")
            if self.ddp.main:
                save_state(self.run_dir / BEST, {"model": self.model.state_dict(), "epoch": epoch + 1})
        elif self._off_plateau() or not self.tc.plateau_wait:
            run.bad_epochs += 1  # on the starting plateau nothing counts: the model has not begun to learn
        if self._patience_spent():
            run.stopped = True
            run.stop_reason = (f"early stop: valid_{metric} no better for {run.bad_epochs} epochs "
                               f"({run.global_step - run.best_step} steps) since epoch {run.best_epoch}")
            record["stopped_early"] = True
        self.say(f"epoch {epoch + 1}/{self.tc.epochs}  train_loss {record['train_loss']:.4f}"
                 + (f"  valid_{metric} {record[f'valid_{metric}']:.4f}" if self.has_valid else "")
                 + ("  *" if improved else "") + (f"  ({run.stop_reason or 'stopped'})" if run.stopped else ""))
        if self.ddp.main:
            with open(self.run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
        run.next_epoch()
        self.checkpoint()

    def _better(self, value: float, than: float) -> bool:
        return value > than if self.mode == "max" else value < than

    def _off_plateau(self) -> bool:
        """Whether valid has ever been better than its first value (the best is then better than it)."""
        run = self.run
        return run.first is not None and run.best is not None and self._better(run.best, run.first)

    def _tie_won(self, value: float, record: dict[str, Any]) -> bool:
        """A tie on the selection metric goes to the lower valid loss: on a small valid split a CER of 0.0 is
        reached early and then only equalled, while the model behind it goes on getting surer."""
        run = self.run
        loss = record.get("valid_loss")
        if value != run.best or loss is None or run.best_loss is None:
            return False
        return loss < run.best_loss

    def _patience_spent(self) -> bool:
        """Early stopping: train.patience epochs and train.patience_steps steps without improvement, counted
        only off the starting plateau (train.plateau_wait), and never before train.min_steps steps."""
        tc, run = self.tc, self.run
        if not (tc.patience or tc.patience_steps) or run.global_step < tc.min_steps or run.epoch + 1 >= tc.epochs:
            return False  # (after the last epoch the run ends anyway: it ran all its epochs, it did not stop early)
        if tc.plateau_wait and not self._off_plateau():
            return False
        return run.bad_epochs >= max(1, tc.patience) and run.global_step - run.best_step >= tc.patience_steps

    def _validate(self, epoch: int, record: dict[str, Any]) -> float:
        """Valid metrics into `record`; the selection metric's value (refused when not finite)."""
        valid = evaluate(self.task, self.model, self.feats["valid"], self.tc.eval_batch_size, self.device,
                         self.tc.precision)
        if self.metric not in valid:
            raise UserError(f"train.metric={self.metric!r} is not a metric of task {self.cfg.task!r} "
                            f"(it reports: {', '.join(valid)})")
        record.update({f"valid_{k}": v for k, v in valid.items()})
        value = valid[self.metric]
        if not math.isfinite(value):
            raise UserError(f"training diverged: valid {self.metric} is {value} after epoch {epoch + 1}; "
                            f"{self.run_dir} keeps the last good checkpoint. "
                            f"Lower train.lr and start again with --force")
        return value

    # ---- finish -------------------------------------------------------------------------------------

    def finish(self) -> dict[str, Any]:
        """The best epoch's weights, evaluated on valid and test, written as the bundle; the summary."""
        from rnnlab.bundle import save_bundle

        run, ddp, tc = self.run, self.ddp, self.tc
        # DDP keeps replicas identical by construction (same init, same averaged gradients): check it
        spread = ddp.replica_spread(self.model)
        if spread > 0:
            self.say(f"warning: parameters differ between processes by up to {spread:.3g}")
        ddp.barrier()  # all ranks read the best weights rank 0 wrote
        if (self.run_dir / BEST).exists():
            self.model.load_state_dict(load_checkpoint(self.run_dir / BEST)["model"])
        summary: dict[str, Any] = {"task": self.cfg.task, "metric": self.metric, "best_epoch": run.best_epoch,
                                   "epochs_run": run.epoch, "steps_run": run.global_step,
                                   "stopped_early": (run.stop_reason or "").startswith("early stop"),
                                   "stop_reason": run.stop_reason or f"all {tc.epochs} epochs run",
                                   "adapted": self.adapted,
                                   "out_of_time": run.stop_reason == "time budget spent",
                                   "train_time_s": round(run.train_time_s, 3),
                                   "parameters": sum(p.numel() for p in self.model.parameters()),
                                   "world_size": ddp.world, "replica_spread": spread, "precision": self.precision_note}
        if self.feats.get("valid"):
            # a threshold set on held-out training data with the final weights, before test is ever scored
            calibration = calibrate(self.task, self.model, self.feats["valid"], tc.eval_batch_size, self.device,
                                    tc.precision)
            if calibration:
                summary["calibration"] = calibration
                self.say("calibration: " + "  ".join(f"{k} {v:.4g}" for k, v in calibration.items()))
        for split in ("valid", "test"):
            if self.feats.get(split):
                summary[split] = evaluate(self.task, self.model, self.feats[split], tc.eval_batch_size, self.device,
                                          tc.precision)
        if ddp.main:
            bundle_dir = save_bundle(self.run_dir / "bundle", self.task, self.model, self.cfg, summary,
                                     command=self.command)
            self.say(f"bundle: {bundle_dir}" + "".join(f"  {s}_{self.metric} {summary[s][self.metric]:.4f}"
                                                       for s in ("valid", "test")
                                                       if s in summary and self.metric in summary[s])
                     + f"  (stopped after {run.global_step} steps, epoch {run.epoch}: {summary['stop_reason']}; "
                     f"best epoch {run.best_epoch})")
        return summary
