"""Word-level LM on Penn Treebank: test perplexity within a wall-clock budget (+ the backward model
that benchmarks/cloze.py combines with it).

    RNNLAB_DATA=../shared/data python benchmarks/ptb.py [--minutes 60] [--backward-minutes 0] [--quick] [key=value ...]

Trains configs/ptb.toml (2-layer LSTM, tied embeddings, dropout, truncated BPTT with carried state,
precision auto: bf16 autocast where the CPU runs it natively, fp32 elsewhere) for --minutes of
training time (train.max_minutes; validation time not counted), re-evaluates the best weights in
float32 over the whole valid and test splits (10 contiguous streams, as pytorch/examples
word_language_model), and writes benchmarks/results/ptb.json and ptb.png.
With --backward-minutes > 0 it then trains the same model on the reversed text (data.reverse=true,
right-to-left) into RUN_DIR-backward, for `rnnlab fill` and the cloze benchmark, and reports it too.

Target: test perplexity <= 90 within 60 minutes on 2 CPU cores (the JSON's `targets` list:
test_perplexity <= 90 and best_reached_train_minutes <= 60; its `machine` names the CPU).
Anchors (Zaremba et al. 2014): LSTM small 114.5, medium 82.7, large 78.4; AWD-LSTM (Merity et al.
2017) 57.3.
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path

import lmbench

TARGET = 90.0
ANCHORS = {"zaremba2014_small": 114.5, "zaremba2014_medium": 82.7, "zaremba2014_large": 78.4, "awd_lstm": 57.3}


def quick_data() -> list[str]:
    """The first lines of each split in a temporary directory (smoke runs only)."""
    root = Path(tempfile.mkdtemp(prefix="rnnlab-ptb-"))
    out = []
    for split, n in (("train", 3000), ("valid", 300), ("test", 300)):
        lines = Path(os.path.expandvars(f"$RNNLAB_DATA/ptb/ptb.{split}.txt")).read_text().splitlines()[:n]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
        out.append(f"data.{split}={root / f'{split}.txt'}")
    return out


def run(overrides: list[str], minutes: float, quick: bool, command: str) -> dict:
    from rnnlab.config import load_config

    cfg = load_config(lmbench.ROOT / "configs" / "ptb.toml", overrides)
    summary, records, train_time = lmbench.train_within(cfg, minutes, quick, command)
    bundle = Path(cfg.run_dir) / "bundle"
    fp32 = {split: lmbench.evaluate_bundle_fp32(bundle, split, 10) for split in ("valid", "test")}
    return {"cfg": cfg, "bundle": bundle, "summary": summary, "records": records, "train_time": train_time,
            "figures": {
                "test_perplexity": round(fp32["test"]["perplexity"], 2),
                "valid_perplexity": round(fp32["valid"]["perplexity"], 2),
                "test_loss_nats_per_word": round(fp32["test"]["loss"], 4),
                "test_perplexity_bf16_eval": round(summary["test"]["perplexity"], 2),
                "test_tokens_evaluated": fp32["test"]["tokens"],
                "best_epoch": summary["best_epoch"], "epochs": summary["epochs_run"],
                "passes_over_train": round(summary["epochs_run"] / cfg.data.split_epochs, 2),
                "parameters": summary["parameters"], "train_time_s": summary["train_time_s"],
                "train_tokens_per_s": lmbench.tokens_per_s(cfg, summary, records)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="forward model's training budget (wall clock)")
    ap.add_argument("--backward-minutes", type=float, default=0.0, help="also train a right-to-left model")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run on the first 3000 lines")
    ap.add_argument("--run-dir", default="runs/bench-ptb")
    ap.add_argument("--out", default=str(lmbench.RESULTS / "ptb.json"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    command = " ".join(["python"] + [shlex.quote(a) for a in sys.argv])

    base = quick_data() + ["model.hidden_size=64", "model.embed_size=64", "train.progress=false"] \
        if args.quick else []
    clock = lmbench.Clock()
    fwd = run(base + [f"run_dir={args.run_dir}"] + args.overrides, args.minutes, args.quick, command)
    cfg = fwd["cfg"]
    png = Path(args.out).with_suffix(".png")
    lmbench.plot_curve(fwd["records"], math.log(10_000), math.log(TARGET), png,
                       f"word LM, PTB ({cfg.model.num_layers}x{cfg.model.hidden_size} {cfg.model.cell}, tied, "
                       f"{cfg.train.precision})", "nats/word", target_label=f"ln {TARGET:g} (perplexity {TARGET:g})")
    ppl = fwd["figures"]["test_perplexity"]
    result = {
        "benchmark": "ptb", "command": command, "quick": args.quick, "machine": lmbench.machine(),
        "budget_minutes": args.minutes,
        "config": {"data": vars(cfg.data), "model": vars(cfg.model), "train": vars(cfg.train)},
        "figures": fwd["figures"],
        "time": {"training": fwd["train_time"]},
        "target": {"test_perplexity_max": TARGET, "minutes_max": 60, "anchors": ANCHORS,
                   **lmbench.verdict(ppl, TARGET, fwd["records"], fwd["summary"]["best_epoch"])},
        "targets": [],  # filled below, from the figures
        "curve": [{k: r.get(k) for k in ("epoch", "train_time_s", "train_loss", "valid_loss", "valid_perplexity", "lr")}
                  for r in fwd["records"]],
        "curve_png": png.name,
        "bundle": str(fwd["bundle"]),
    }
    result["targets"] = targets(result)
    print(lmbench.benchcommon.describe(result["targets"]))
    print(f"forward: test perplexity {ppl} (target <= {TARGET}): {'met' if result['target']['met'] else 'NOT met'}",
          flush=True)
    lmbench.write_json(Path(args.out), result)  # written now, so a failure later keeps the forward figures
    if args.backward_minutes > 0:
        bwd = run(base + [f"run_dir={args.run_dir}-backward", "data.reverse=true"] + args.overrides,
                  args.backward_minutes, args.quick, command)
        result["backward"] = {"budget_minutes": args.backward_minutes, "figures": bwd["figures"],
                              "time": {"training": bwd["train_time"]}, "bundle": str(bwd["bundle"]),
                              "note": "right-to-left model (data.reverse=true) for rnnlab fill / cloze.py; "
                                      "its perplexity is over the reversed test stream"}
        print(f"backward: test perplexity {bwd['figures']['test_perplexity']}", flush=True)
    result["time"]["total"] = clock.report()
    lmbench.write_json(Path(args.out), result)
    return 0


def targets(result: dict) -> list[dict]:
    """The `targets` list of a ptb JSON (the forward model's), from its figures and verdict."""
    return lmbench.budget_targets("test_perplexity", result["figures"]["test_perplexity"], TARGET,
                                  result["target"]["best_reached_train_s"])


if __name__ == "__main__":
    raise SystemExit(main())
