"""What the language-model benchmarks (charlm.py, ptb.py, cloze.py) share: the machine description,
fitting a run into a wall-clock budget, timing a training run honestly, the target list and the
loss-curve plot.

Budget: `train.max_minutes` makes the trainer stop when the training time is spent and run its
cosine LR schedule on elapsed time, so a run ends annealed however busy the machine is (validation
time is not counted). On a shared machine the speed changes while the run goes on, so the JSON records
the wall time actually taken, the CPU time, and the load average before and after: read the figures
with those.
"""
from __future__ import annotations

import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402


def machine() -> dict[str, Any]:
    """CPU model, torch's CPU capability, native bf16, threads (rnnlab.precision.machine) and versions."""
    import rnnlab

    return benchcommon.machine(torch.get_num_threads(),
                               versions={"python": platform.python_version(), "torch": torch.__version__,
                                         "rnnlab": rnnlab.__version__})


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall time, CPU time and load average over one stretch of work."""

    def __init__(self):
        self.wall0, self.cpu0, self.load0 = time.perf_counter(), cpu_seconds(), os.getloadavg()

    def report(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall0
        cpu = cpu_seconds() - self.cpu0
        return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                "cpu_per_wall": round(cpu / max(wall, 1e-9), 2),  # 2.0 = both cores busy all the time
                "loadavg_start": [round(x, 2) for x in self.load0],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()]}


def train_within(cfg, minutes: float, quick: bool, command: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict]:
    """Train cfg for `minutes` of training time (train.max_minutes; one epoch when quick).
    Returns the trainer's summary, the per-epoch records of metrics.jsonl and the Clock report."""
    from rnnlab.training import train

    if quick:
        cfg.train.epochs, cfg.train.max_minutes = 1, 0.0
    else:
        cfg.train.epochs, cfg.train.max_minutes = 1000, minutes  # the budget ends training
    clock = Clock()
    summary = train(cfg, overwrite=True, command=command)
    return summary, read_metrics(Path(cfg.run_dir)), clock.report()


def tokens_per_s(cfg, summary: dict[str, Any], records: list[dict[str, Any]]) -> int:
    """Training throughput: optimizer steps x tokens per step / training time."""
    return round(records[-1]["step"] * cfg.train.batch_size * cfg.data.bptt / max(summary["train_time_s"], 1e-9))


def evaluate_bundle_fp32(bundle: Path, split: str, batch_size: int) -> dict[str, float]:
    """Re-evaluate a saved bundle in float32 (the trainer evaluated under the training precision)."""
    import rnnlab
    from rnnlab.training import evaluate

    pred = rnnlab.load(bundle)
    task = pred.task
    feats = [task.encode(w) for w in task.read(split)]
    return evaluate(task, pred.model, feats, batch_size, torch.device("cpu"), "fp32")


def evaluate_bundle_blocks_fp32(bundle: Path, split: str, block: int, batch_size: int) -> dict[str, float]:
    """Score a saved bundle on independent blocks of `block` tokens of context (rnnlab.tasks.lm:
    read_blocks; the state reset at every block; the tokens after the last full block dropped), in
    float32 and eval mode. Deterministic: fixed blocks in stream order, no dropout, no sampling.
    Adds `blocks` (how many) and `dropped` (targets of the split left unscored) to the task's metrics."""
    import rnnlab
    from rnnlab.explain import eval_mode

    pred = rnnlab.load(bundle)
    task, model = pred.task, pred.model.float()
    feats = [task.encode(b) for b in task.read_blocks(split, block)]
    batches = (task.collate(feats[i:i + batch_size]) for i in range(0, len(feats), batch_size))
    with eval_mode(model), torch.autocast("cpu", enabled=False):  # float32 whatever the caller turned on
        metrics = task.evaluate(model, batches, independent=True)
    targets = len(task.stream(split)) - 1  # every token but the first, as the stream scores them
    return {**metrics, "blocks": len(feats), "dropped": targets - metrics["tokens"]}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def plot_curve(records: list[dict[str, Any]], initial_loss: float, target: float | None, png: Path,
               title: str, unit: str, target_label: str = "") -> None:
    """Train and validation loss per epoch against training minutes, with the target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [0.0] + [r["train_time_s"] / 60 for r in records]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(minutes[1:], [r["train_loss"] for r in records], "o-", label="train (mean over the epoch, dropout on)")
    ax.plot(minutes, [initial_loss] + [r["valid_loss"] for r in records], "s-", label="validation")
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", label=f"target {target_label or f'{target:.4g}'}")
    ax.set_xlabel("training time (minutes, wall clock)")
    ax.set_ylabel(f"loss ({unit})")
    ax.set_title(title)
    low = min([r["valid_loss"] for r in records] + [r["train_loss"] for r in records] + ([target] if target else []))
    ax.set_ylim(low - 0.1, min(initial_loss, low + 2.5) + 0.05)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def best_reached_s(records: list[dict[str, Any]], best_epoch: int) -> float:
    """Training seconds at the end of the epoch whose weights the bundle holds (the best on valid): the
    time the reported model took, which the budget verdicts use. (Since the trainer keeps room for one
    more step, the whole run also stays within its budget; runs made before that could end one step past it.)"""
    return next(r["train_time_s"] for r in records if r["epoch"] == best_epoch)


def verdict(value: float, limit: float, records: list[dict[str, Any]], best_epoch: int,
            minutes: float = 60.0) -> dict[str, Any]:
    """The target verdict: `value` (lower is better) within `limit`, and the reported weights reached
    within `minutes` of training."""
    reached = best_reached_s(records, best_epoch)
    return {"best_reached_train_s": reached, "met": bool(value <= limit and reached <= minutes * 60)}


def budget_targets(name: str, value: float, limit: float, reached_s: float,
                   minutes: float = 60.0) -> list[dict[str, Any]]:
    """The `targets` list of a loss/perplexity benchmark: `value` (lower is better) within `limit`, and
    the reported weights reached within `minutes` of training (together: verdict()'s "met")."""
    return [benchcommon.target(name, value, limit, "<="),
            benchcommon.target("best_reached_train_minutes", round(reached_s / 60, 2), minutes, "<=")]


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def uniform_loss(vocab_size: int) -> float:
    """The loss of a model that knows nothing (uniform over the vocabulary): the curve's start."""
    return math.log(vocab_size)
