"""`rnnlab detect BUNDLE sessions.txt [more.txt ...]`: flag abnormal log sessions with a log_anomaly bundle.

Each file holds one session per line (`e1 e2 ...` or `id,e1 e2 ...`, rnnlab.readers.sessions). One line per
session is printed: the file (when several are given), the session id (or its line number), the verdict by the
top-g rule (DeepLog) and the session's score (its largest surprise, -log p in nats; higher = more abnormal), then
a summary on stderr. `--top-g G` overrides the bundle's model.top_g; `--json` prints one object per session
instead, with every event's rank among the model's guesses and its surprise.
"""
from __future__ import annotations

import argparse
import json
import sys

from rnnlab.cli.predict import _allow_flags_after_texts, require_task


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a log_anomaly bundle directory (e.g. runs/hdfs/bundle)")
    p.add_argument("files", nargs="+", metavar="SESSIONS", help="files of sessions, one per line")
    p.add_argument("--top-g", type=int, default=None, metavar="G",
                   help="abnormal when a true next event is outside the top G guesses (default: the bundle's)")
    p.add_argument("--json", action="store_true", help="one JSON object per session: each event's rank and surprise")
    _allow_flags_after_texts(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rnnlab.bundle import load
    from rnnlab.errors import UserError
    from rnnlab.readers.sessions import read_sessions

    if args.top_g is not None and args.top_g < 1:
        raise UserError(f"--top-g must be >= 1, got {args.top_g}")
    predictor = load(args.bundle)
    require_task(predictor, "log_anomaly", "log anomaly", "detect")
    task, model = predictor.task, predictor.model
    files = [(path, read_sessions(Path(path))) for path in args.files]  # every file checked before any output
    flagged = total = 0
    for path, sessions in files:
        scored = task.score_sessions(model, [[str(e) for e in s.events] for s in sessions])
        for session, item in zip(sessions, scored):
            v = task.verdict(item, args.top_g)
            flagged += v["abnormal"]
            total += 1
            verdict = "abnormal" if v["abnormal"] else "normal"
            if args.json:
                tokens = [str(e) for e in session.events]
                print(json.dumps({
                    "file": path, "session": session.id, "line": session.line, "verdict": verdict,
                    "score": round(v["score"], 6), "worst_rank": v["worst_rank"], "top_g": v["top_g"],
                    "events": [{"event": e, "rank": int(r), "surprise": round(float(s), 6),
                                "unknown": e not in task.events}
                               for e, r, s in zip(tokens, item["rank"], item["surprise"])],
                    "end": {"rank": v["end_rank"], "surprise": round(v["end_surprise"], 6)}}))
            else:
                where = f"{path}\t" if len(files) > 1 else ""
                print(f"{where}{session.id}\t{verdict}\t{v['score']:.4f}")
        sys.stdout.flush()
    g = args.top_g if args.top_g is not None else task.model_config.top_g
    print(f"{flagged} of {total} sessions abnormal (top-g rule, g = {g})", file=sys.stderr)
    return 0
