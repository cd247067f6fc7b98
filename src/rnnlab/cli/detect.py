"""`rnnlab detect BUNDLE sessions.txt [more.txt ...]`: flag abnormal log sessions with a log_anomaly bundle.

Each file holds one session per line (`e1 e2 ...` or `id,e1 e2 ...`, rnnlab.readers.sessions). One line per
session is printed: the file (when several are given), the session id (or its line number), the verdict by the
top-g rule (DeepLog) and the session's score (its largest surprise, -log p in nats; higher = more abnormal), then
a summary on stderr. A bundle with model.verdict = "threshold" flags a session whose score (model.score: mean or a
percentile of the surprises) is above the threshold it recorded; a bundle of traces (data.format = "traces",
ADFA-LD) takes trace files and directories of them, one session a file, named by the file. `--top-g G` overrides
the bundle's model.top_g; `--json` prints one object per session instead, with every event's rank among the
model's guesses and its surprise (and its name, for a bundle trained with data.event_names). A formatter over
the task's predict and its declared options (top_g): `rnnlab predict BUNDLE FILE --option top_g=G` computes the
same verdicts.
"""
from __future__ import annotations

import argparse
import json
import sys

from rnnlab.cli.predict import _allow_flags_after_texts, add_runtime_argument, require_task


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a log_anomaly bundle directory (e.g. runs/hdfs/bundle)")
    p.add_argument("files", nargs="+", metavar="SESSIONS",
                   help="files of sessions, one per line; for a bundle of traces, trace files or directories of them")
    p.add_argument("--top-g", type=int, default=None, metavar="G",
                   help="abnormal when a true next event is outside the top G guesses (default: the bundle's)")
    p.add_argument("--json", action="store_true", help="one JSON object per session: each event's rank and surprise")
    _allow_flags_after_texts(p)
    add_runtime_argument(p)


def run(args: argparse.Namespace) -> int:
    from rnnlab.readers.sessions import parse_events
    from rnnlab.runtime import load_predictor

    predictor = load_predictor(args.bundle, args.runtime)
    require_task(predictor, "log_anomaly", "log anomaly", "detect")
    task = predictor.task
    # the verdicts only: each event's guesses (rankings) would cost a label list per event of every session
    options = task.check_options({"top_g": args.top_g, "rankings": False}, called={"top_g": "--top-g"})
    files = [(path, task.inputs_from_file(path)) for path in args.files]  # every file checked before any output
    flagged = total = 0
    for path, items in files:
        for (name, text), pred in zip(items, predictor.predict([text for _, text in items], **options)):
            tail = name.rsplit(":", 1)[-1]
            line = int(tail) if tail.isdigit() else None  # a trace (one session a file) has no line
            session = parse_events(text)[0] or str(line)  # the file's session id, or the line number
            abnormal, scores = pred["answer"]["label"] == "abnormal", pred["scores"]
            flagged += abnormal
            total += 1
            verdict = "abnormal" if abnormal else "normal"
            if args.json:
                print(json.dumps({
                    "file": path, "session": session, "line": line, "verdict": verdict,
                    "score": scores["score"], "max_surprise": scores["max_surprise"],
                    "worst_rank": int(scores["worst_rank"]),
                    "top_g": int(scores["top_g"]),
                    "events": [{"event": s["token"], **({"name": s["name"]} if "name" in s else {}),
                                "rank": s["rank"], "surprise": s["score"], "unknown": u}
                               for s, u in zip(pred["steps"], pred["unknown"])],
                    "end": {"rank": int(scores["end_rank"]), "surprise": scores["end_surprise"]}}))
            else:
                where = f"{path}\t" if len(files) > 1 else ""
                print(f"{where}{session}\t{verdict}\t{scores['score']:.4f}")
        sys.stdout.flush()
    g = args.top_g if args.top_g is not None else task.model_config.top_g
    m = task.model_config
    rule = (f"{m.score} surprise > {task.threshold:.4g}, set at FPR {m.fpr:g} on held-out normal sessions"
            if m.verdict == "threshold" else f"top-g rule, g = {g}")
    print(f"{flagged} of {total} sessions abnormal ({rule})", file=sys.stderr)
    return 0
