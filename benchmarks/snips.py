"""Joint intent detection + slot filling on SNIPS: one row per cell type at the same budget.

    RNNLAB_DATA=../shared/data python benchmarks/snips.py [--variants lstm rnn gru lstm-nocrf]
        [--parallel | --jobs N] [--members K] [--quick] [--merge] [key=value ...]

Each variant trains configs/snips.toml (model.cell and model.crf changed, nothing else) on SNIPS
train, keeps the epoch with the best valid exact match, and reports that model on the official test
split: intent accuracy, slot F1 (seqeval default mode = conlleval-compatible, the papers' figure; and
strict IOB2), sentence exact match, training time (wall and CPU). Test is never used for selection.
Writes benchmarks/results/snips.json.

Targets (issue 4): intent accuracy >= 98.0 % and slot F1 >= 94.5 on test within 30 minutes of
training on 2 CPU cores. Every row gets its verdicts; the JSON's `targets` list judges the row chosen on
valid alone (`SELECTION_RULE`: best valid exact match within the budget; `valid_figures` lists every
variant's valid figures in the order of that choice): intent_accuracy >= 0.98, slot_f1 >= 0.945,
train_minutes (wall) <= 30 and cpu_minutes_per_core <= 30 (CPU seconds over min(jobs, 2) cores), each
naming its row. Its `machine` (and each new row's) names the CPU and the torch threads per training
process. Published, no pretrained LM: Stack-Propagation 98.0 / 94.2 (Qin et al. 2019), Slot-Gated
97.0 / 88.8 (Goo et al. 2018).

--parallel runs the variants as concurrent processes with one thread each (the machine is shared,
so wall time depends on the other load; CPU time is the honest cost, and both are recorded).
--members K makes each variant a deep ensemble: K seeds trained as --jobs one-thread processes side by
side, joined with rnnlab.ensemble (mean probabilities; slots decoded under the mean CRF score); its row
is the ensemble's, with each member's own figures under member_rows. Its budget is judged on the
variant's wall clock (members + joining) and on CPU seconds against --jobs (at most 2) cores.
--quick trains 1 epoch on 500 utterances (a smoke test of the script; its figures mean nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"intent_accuracy": 0.980, "slot_f1": 0.945, "train_minutes": 30}
PUBLISHED = {"Stack-Propagation (Qin et al. 2019)": {"intent_accuracy": 0.980, "slot_f1": 0.942},
             "Slot-Gated (Goo et al. 2018)": {"intent_accuracy": 0.970, "slot_f1": 0.888}}
VARIANTS = {"lstm": ["model.cell=lstm"], "rnn": ["model.cell=rnn"], "gru": ["model.cell=gru"],
            "lstm-nocrf": ["model.cell=lstm", "model.crf=false"],
            # the same LSTM trained longer: valid was still improving at the end of the 10-epoch budget
            "lstm-15ep": ["model.cell=lstm", "train.epochs=15"]}


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_variant(variant: str, overrides: list[str], quick: bool) -> dict:
    """Train one variant in this process; return its row."""
    import torch

    from rnnlab.config import load_config, to_dict
    from rnnlab.training import train

    extra = ["train.progress=false"]
    if not any(o.startswith("run_dir=") for o in overrides):  # tuning runs of one variant set their own
        extra.insert(0, f"run_dir={ROOT / 'runs' / f'bench-snips-{variant}'}")
    if quick:
        small = Path(tempfile.mkdtemp(prefix="rnnlab-snips-"))
        for split, n in (("train", 500), ("valid", 100), ("test", 100)):
            (small / split).mkdir()
            for name in ("seq.in", "seq.out", "label"):
                src = Path(os.path.expandvars(f"$RNNLAB_DATA/snips/{split}/{name}")).read_text().splitlines()
                (small / split / name).write_text("\n".join(src[:n]) + "\n")
            extra.append(f"data.{split}={small / split}")
        extra.append("train.epochs=1")
    cfg = load_config(ROOT / "configs" / "snips.toml", VARIANTS[variant] + overrides + extra)
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    summary = train(cfg, overwrite=True, command=" ".join(shlex.quote(a) for a in sys.argv),
                    echo=lambda line: print(f"[{variant}] {line}", flush=True))
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    test, valid = summary["test"], summary["valid"]
    return {"variant": variant, "cell": cfg.model.cell, "crf": cfg.model.crf,
            "test": {k: round(v, 4) for k, v in test.items()},
            "valid": {k: round(v, 4) for k, v in valid.items()},
            "best_epoch": summary["best_epoch"], "epochs": summary["epochs_run"], "parameters": summary["parameters"],
            "train_time_s": summary["train_time_s"],  # trainer's clock: training steps only, wall
            "wall_time_s": round(wall, 1),  # the whole run: reading data, training, per-epoch validation, test
            "cpu_time_s": round(cpu, 1),  # CPU seconds of this process over the whole run
            "torch_threads": torch.get_num_threads(),
            # each row names its machine: --merge keeps rows of earlier runs, maybe made elsewhere
            "machine": benchcommon.machine(torch.get_num_threads()),
            "config": to_dict(cfg)}


def run_pool(jobs: list[tuple[str, str, list[str]]], width: int, quick: bool) -> list[tuple[str, dict]]:
    """Run (name, variant, overrides) jobs as worker processes, at most `width` at once, one thread each.
    Returns (name, row) in job order; exits naming the job if one fails."""
    pending, running, done = list(jobs), {}, {}
    while pending or running:
        while pending and len(running) < width:
            name, variant, overrides = pending.pop(0)
            cmd = [sys.executable, __file__, "--worker", variant, *(["--quick"] if quick else []),
                   *overrides, "train.threads=1"]
            out = tempfile.TemporaryFile(mode="w+")
            running[name] = (subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT), out)
            print(f"started {name}", flush=True)
        time.sleep(1.0)
        for name, (proc, out) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            out.seek(0)
            lines = out.read().splitlines()
            rows = [line for line in lines if line.startswith("ROW ")]
            if proc.returncode != 0 or not rows:
                print("\n".join(lines[-20:]))
                sys.exit(f"job {name} failed (exit code {proc.returncode})")
            done[name] = json.loads(rows[-1][4:])
            t = done[name]["test"]
            print(f"finished {name}: test intent {t['intent_accuracy']:.4f} slot F1 {t['slot_f1']:.4f} "
                  f"exact {t['exact_match']:.4f} ({done[name]['cpu_time_s']:.0f} CPU-s)", flush=True)
    return [(name, done[name]) for name, _, _ in jobs]


def ensemble_row(variant: str, args: argparse.Namespace) -> dict:
    """Train K members of one variant (seeds 0..K-1) with --jobs processes, join them, score the ensemble.
    The budget counts everything from the first member's start to the joined bundle: wall clock with
    --jobs processes on this machine, and the CPU seconds of all members."""
    from rnnlab.ensemble import combine

    wall0 = time.perf_counter()
    seeds = range(args.seed_base, args.seed_base + args.members)
    jobs = [(f"{variant}-seed{i}", variant, [*args.overrides, f"train.seed={i}",
                                            f"run_dir={Path(args.runs) / f'bench-snips-{variant}-seed{i}'}"])
            for i in seeds]
    members = [row for _, row in run_pool(jobs, args.jobs, args.quick)]
    bundles = [Path(m["config"]["run_dir"]) / "bundle" for m in members]
    out = Path(args.runs) / f"bench-snips-{variant}-ensemble"
    combine(bundles, out, command="benchmarks/snips.py", force=True,
            echo=lambda line: print(f"[{variant}] {line}", flush=True))
    metrics = json.loads((out / "metrics.json").read_text())
    wall = time.perf_counter() - wall0
    name = f"{variant}-x{args.members}"
    if args.repeat_of:  # the same recipe again with other seeds: counted with that row, never chosen on its own
        name = f"{args.repeat_of}@seeds{seeds[0]}-{seeds[-1]}"
    return {"variant": name, "cell": members[0]["cell"], "crf": members[0]["crf"],
            "members": args.members, **({"repeat_of": args.repeat_of} if args.repeat_of else {}),
            "test": {k: round(v, 4) for k, v in metrics["test"].items()},
            "valid": {k: round(v, 4) for k, v in metrics["valid"].items()},
            "parameters": sum(m["parameters"] for m in members),
            "train_time_s": round(wall, 1),  # wall clock of the whole variant: members (--jobs at once) + joining
            "wall_time_s": round(wall, 1),
            "cpu_time_s": round(sum(m["cpu_time_s"] for m in members), 1),
            "torch_threads": 1, "jobs": args.jobs, "machine": benchcommon.machine(1),
            "member_rows": [{k: m[k] for k in ("test", "valid", "best_epoch", "epochs", "cpu_time_s", "wall_time_s")}
                            | {"seed": m["config"]["train"]["seed"]} for m in members],
            "config": members[0]["config"]}


def judge(row: dict) -> dict:
    """The target verdicts of one row. The budget is judged on CPU time: each variant runs on one thread,
    so its CPU seconds are what it would take on a dedicated core; the wall clock of this shared
    machine (other jobs running) is recorded beside it but says more about the neighbours."""
    test = row["test"]
    row["meets_accuracy_targets"] = bool(test["intent_accuracy"] >= TARGETS["intent_accuracy"]
                                         and test["slot_f1"] >= TARGETS["slot_f1"])
    cores = row.get("jobs", 1)  # an ensemble row used `jobs` cores: its budget is that many core-minutes
    row["within_budget_cpu"] = bool(row["cpu_time_s"] <= TARGETS["train_minutes"] * 60 * min(cores, 2))
    row["within_budget_wall"] = bool(row["train_time_s"] <= TARGETS["train_minutes"] * 60)
    row.pop("meets_targets", None)
    return row


def row_targets(row: dict) -> list[dict]:
    """The targets of one row as `targets` items."""
    cores = min(row.get("jobs", 1), 2)
    return [benchcommon.target("intent_accuracy", row["test"]["intent_accuracy"], TARGETS["intent_accuracy"], ">=",
                               row=row["variant"]),
            benchcommon.target("slot_f1", row["test"]["slot_f1"], TARGETS["slot_f1"], ">=", row=row["variant"]),
            benchcommon.target("train_minutes", round(row["train_time_s"] / 60, 2), TARGETS["train_minutes"], "<=",
                               row=row["variant"]),
            benchcommon.target("cpu_minutes_per_core", round(row["cpu_time_s"] / 60 / cores, 2),
                               TARGETS["train_minutes"], "<=", row=row["variant"], cores=cores)]


SELECTION_RULE = ("the row with the best valid exact_match (the trainer's own selection metric) among the rows within "
                  "the training budget (wall and CPU); ties broken by valid slot_f1, then valid intent_accuracy, "
                  "then fewer parameters. Test figures play no part; they are read only for the chosen row")


def choose(rows: list[dict]) -> dict | None:
    """The row SELECTION_RULE picks: on valid figures and the budget only, never on test."""
    rows = [r for r in rows if not r.get("repeat_of")]
    eligible = [r for r in rows if r.get("within_budget_cpu", True) and r.get("within_budget_wall", True)] or rows
    if not eligible:
        return None
    return max(eligible, key=lambda r: (r["valid"].get("exact_match", 0.0), r["valid"].get("slot_f1", 0.0),
                                        r["valid"].get("intent_accuracy", 0.0), -r.get("parameters", 0)))


def seeds_of(row: dict, rows: list[dict]) -> list[dict]:
    """`row` and its reruns with other seeds (`--repeat-of`)."""
    return [row] + [r for r in rows if r.get("repeat_of") == row["variant"]]


def over_seeds(runs: list[dict]) -> dict:
    """Mean and sample std of the test figures over reruns of one recipe, and each run's figures."""
    import statistics

    keys = ("intent_accuracy", "slot_f1", "exact_match")
    return {"runs": [r["variant"] for r in runs], "n": len(runs),
            "test_mean": {k: round(statistics.fmean(r["test"][k] for r in runs), 4) for k in keys},
            "test_std": {k: round(statistics.stdev(r["test"][k] for r in runs), 4) if len(runs) > 1 else None
                         for k in keys},
            "per_run": [{"variant": r["variant"], **{k: r["test"][k] for k in keys}} for r in runs]}


def targets(rows: list[dict]) -> list[dict]:
    """The `targets` list of a snips JSON: those of the row chosen on valid (`choose`); where it was rerun with
    other seeds, the accuracy targets count on the mean over the runs and the budget on the slowest."""
    row = choose(rows)
    if not row:
        return []
    runs = seeds_of(row, rows)
    if len(runs) == 1:
        return row_targets(row)
    summary = over_seeds(runs)
    slowest = max(runs, key=lambda r: r["train_time_s"])
    items = row_targets({**slowest, "variant": row["variant"], "test": summary["test_mean"]})
    for item in items:
        item.update(seeds=summary["n"], runs=summary["runs"])
        if item["name"] in summary["test_std"]:
            item["std"] = summary["test_std"][item["name"]]
    return items


def valid_table(rows: list[dict]) -> list[dict]:
    """Every variant's valid figures, the only ones the choice reads, in the order of the choice."""
    keys = ("exact_match", "slot_f1", "intent_accuracy")
    table = [{"variant": r["variant"], **{k: r["valid"].get(k) for k in keys},
              "within_budget": bool(r.get("within_budget_cpu", True) and r.get("within_budget_wall", True))}
             for r in rows]
    return sorted(table, key=lambda t: (t["within_budget"], *(t[k] or 0.0 for k in keys)), reverse=True)


def record_choice(result: dict) -> dict:
    """The choice, its rule and the valid table into `result` (and the targets judged on the chosen row)."""
    row = choose(result["rows"])
    result["selection_rule"] = SELECTION_RULE
    result["valid_figures"] = valid_table(result["rows"])
    result["chosen"] = row["variant"] if row else None
    result["chosen_over_seeds"] = over_seeds(seeds_of(row, result["rows"])) if row else None
    result["targets"] = targets(result["rows"])
    return result


def machine(rows: list[dict]) -> dict:
    import torch

    # threads per training process (the pool's workers and ensemble members run one each)
    threads = max((r["torch_threads"] for r in rows if "torch_threads" in r), default=torch.get_num_threads())
    return benchcommon.machine(threads, load_average_at_end=[round(x, 2) for x in os.getloadavg()])


def versions() -> dict:
    import seqeval
    import torch

    import rnnlab

    return {"python": platform.python_version(), "torch": torch.__version__, "rnnlab": rnnlab.__version__,
            "seqeval": getattr(seqeval, "__version__", "1.2.2")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=["lstm", "rnn", "gru", "lstm-nocrf"], choices=list(VARIANTS))
    ap.add_argument("--parallel", action="store_true", help="run the variants concurrently, one thread each")
    ap.add_argument("--jobs", type=int, default=1, help="run this many training processes at once, one thread each")
    ap.add_argument("--members", type=int, default=1,
                    help="> 1: each variant is a deep ensemble of this many models (seeds 0..K-1), trained as "
                         "--jobs one-thread processes and joined with rnnlab.ensemble; the row is the ensemble's")
    ap.add_argument("--seed-base", type=int, default=0, help="--members seeds are seed-base .. seed-base + K - 1")
    ap.add_argument("--repeat-of", metavar="ROW",
                    help="this run is ROW's recipe again with other seeds (--seed-base): its row is named "
                         "ROW@seedsA-B, is never chosen itself, and the targets count on the mean over ROW's runs")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 epoch on 500 utterances")
    ap.add_argument("--out", default=str(RESULTS / "snips.json"))
    ap.add_argument("--runs", default=str(ROOT / "runs"), help="where --members runs and the ensemble bundle go")
    ap.add_argument("--merge", action="store_true",
                    help="add these variants' rows to the existing --out file (replacing rows of the same name)")
    ap.add_argument("--summarize", action="store_true", help="re-derive verdicts and print the table of --out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one variant, print its row as JSON
    ap.add_argument("overrides", nargs="*", help="key=value overrides applied to every variant")
    args = ap.parse_args()
    if "RNNLAB_DATA" not in os.environ:
        sys.exit("set RNNLAB_DATA to the data directory (it must hold snips/{train,valid,test})")

    if args.summarize:  # re-derive the verdicts and print the table of an existing results file
        result = json.loads(Path(args.out).read_text())
        result["rows"] = [judge(r) for r in result["rows"]]
        record_choice(result)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print_table(result["rows"])
        print(benchcommon.describe(result["targets"]))
        return 0
    if args.worker:
        row = run_variant(args.worker, args.overrides, args.quick)
        print("ROW " + json.dumps(row), flush=True)
        return 0

    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    wall0 = time.perf_counter()
    if args.members > 1:
        rows = [ensemble_row(v, args) for v in args.variants]
    elif args.parallel or args.jobs > 1:
        jobs = [(v, v, args.overrides) for v in args.variants]
        rows = [row for _, row in run_pool(jobs, len(jobs) if args.parallel else args.jobs, args.quick)]
    else:
        rows = [run_variant(v, args.overrides, args.quick) for v in args.variants]

    for row in rows:
        row["command"] = command
    this_machine = machine(rows)
    if args.merge and Path(args.out).exists():
        previous = json.loads(Path(args.out).read_text())
        new = {r["variant"] for r in rows}
        rows = [r for r in previous["rows"] if r["variant"] not in new] + rows
        command = previous["command"] + " ; " + command
    result = {
        "benchmark": "snips", "command": command, "quick": args.quick, "parallel": args.parallel,
        "dataset": "SNIPS (Goo et al. 2018 split): train 13,084 / valid 700 / test 700",
        "selection": "best epoch on valid exact_match; figures below are on test unless under 'valid'",
        "metrics": {"intent_accuracy": "fraction of test utterances with the right intent",
                    "slot_f1": "seqeval default mode (conlleval-compatible, as the papers report), "
                               "micro F1 over slot chunks",
                    "slot_f1_strict": "seqeval mode='strict', scheme=IOB2",
                    "exact_match": "intent and every slot tag right (the papers' 'overall accuracy')"},
        "target_limits": TARGETS, "published": PUBLISHED,
        "budget": "judged on cpu_time_s (one thread per variant: CPU seconds = time on a dedicated core); "
                  "train_time_s is the trainer's wall clock on this shared 2-core machine",
        "rows": [judge(r) for r in rows], "total_wall_time_s": round(time.perf_counter() - wall0, 1),
        "machine": this_machine, "versions": versions(),
    }
    record_choice(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result["rows"])
    print(benchcommon.describe(result["targets"]))
    print(f"wrote {args.out}")
    return 0


def print_table(rows: list[dict]) -> None:
    print(f"\n{'variant':<11} {'intent acc':>10} {'slot F1':>8} {'F1 strict':>9} {'exact':>7} "
          f"{'train s':>8} {'cpu s':>7}")
    for r in rows:
        t = r["test"]
        print(f"{r['variant']:<11} {t['intent_accuracy']:>10.4f} {t['slot_f1']:>8.4f} {t['slot_f1_strict']:>9.4f} "
              f"{t['exact_match']:>7.4f} {r['train_time_s']:>8.0f} {r['cpu_time_s']:>7.0f}"
              + ("  meets accuracy targets" if r["meets_accuracy_targets"] else "")
              + ("" if r["within_budget_cpu"] else "  over the CPU budget"))


if __name__ == "__main__":
    raise SystemExit(main())
