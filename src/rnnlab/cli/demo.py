"""`rnnlab demo`: train the demo intent classifier, save it, and replay "what time is it?" word by word.

Needs no downloaded data: the utterances ship with rnnlab (rnnlab/data/demo_intents). The settings
are those of configs/demo.toml (a test keeps the two equal), so `rnnlab train configs/demo.toml`
reproduces the demo's model.
"""
from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

# the demo's config, as overrides of the intent task's defaults (configs/demo.toml says the same)
DEMO_OVERRIDES = [
    "task=intent",
    "data.train=package:demo_intents/train.jsonl",
    "data.test=package:demo_intents/test.jsonl",
    "data.valid_fraction=0.0",
    "model.cell=lstm", "model.embed_size=64", "model.hidden_size=128", "model.num_layers=1",
    "model.dropout=0.5", "model.word_dropout=0.2",
    "train.epochs=40", "train.batch_size=32", "train.lr=0.003", "train.schedule=cosine",
    "train.warmup_steps=10", "train.seed=0", "train.threads=1",
]
SENTENCE = "what time is it?"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo",
                   help="run directory; the bundle goes to OUT/bundle (default runs/demo)")
    p.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm", help="recurrent cell (default lstm)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sentence", default=SENTENCE, help=f"the sentence to replay (default {SENTENCE!r})")
    p.add_argument("--progress", action="store_true", help="show the progress bar and per-epoch lines")
    p.add_argument("--force", action="store_true",
                   help="replace whatever is in OUT (without it only an earlier `rnnlab demo` run is replaced)")


def _bar(value: float, scale: float, width: int = 20) -> str:
    n = 0 if scale <= 0 else round(abs(value) / scale * width)
    return ("█" * n) if value >= 0 else ("░" * n)


def check_out(out: Path, force: bool) -> None:
    """`make demo` may run again and again into runs/demo, so an earlier demo run there is replaced;
    anything else in OUT (a run of `rnnlab train`, the user's own files) only with --force."""
    from rnnlab.errors import UserError

    if force or not out.exists() or (out.is_dir() and not any(out.iterdir())) or (out / DEMO_MARK).is_file():
        return
    try:  # a demo run from before the mark existed: its bundle records the demo's command
        if json.loads((out / "bundle" / "config.json").read_text())["command"].startswith("rnnlab demo "):
            return
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    raise UserError(f"--out {out} already holds something that is not an earlier demo run: choose another "
                    f"--out, or pass --force to replace it")


DEMO_MARK = ".rnnlab-demo"  # written into a demo's run directory: what says "a demo made this"


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.config import load_config
    from rnnlab.errors import UserError
    from rnnlab.readers.intents import tokenize
    from rnnlab.training import train

    overrides = DEMO_OVERRIDES + [f"run_dir={args.out}", f"model.cell={args.cell}", f"train.seed={args.seed}",
                                  f"train.progress={args.progress}"]
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError("--epochs must be >= 1")
        overrides.append(f"train.epochs={args.epochs}")
    if not tokenize(args.sentence):  # checked now: the replay comes after 40 epochs of training
        raise UserError(f"--sentence {args.sentence!r} has no words to replay (e.g. --sentence \"what time is it?\")")
    check_out(Path(args.out), args.force)
    cfg = load_config(None, overrides)
    name = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a plain RNN"}[args.cell]
    print(f"rnnlab demo: {name} network learns what you want from what you say.\n")
    t0 = time.perf_counter()
    summary = train(cfg, overwrite=True, command="rnnlab demo " + " ".join(
        shlex.quote(a) for a in [f"--out={args.out}", f"--cell={args.cell}", f"--seed={args.seed}"]),
        echo=print if args.progress else None)
    seconds = time.perf_counter() - t0
    (Path(args.out) / DEMO_MARK).write_text("made by `rnnlab demo`: a later demo may replace this directory\n")
    bundle_dir = Path(args.out) / "bundle"
    predictor = load(bundle_dir)
    task = predictor.task
    test = summary["test"]
    print(f"Data: the demo intents shipped with rnnlab, {len(task.intents)} intents "
          f"({', '.join(task.intents.itos)}).")
    print(f"Trained {summary['parameters']:,} parameters for {summary['epochs_run']} epochs in {seconds:.1f} s.")
    print(f"Test accuracy: {test['accuracy']:.1%} ({round(test['accuracy'] * test['n'])}/{test['n']} held-out "
          f"utterances the network never saw).")
    print(f"Saved the model to {bundle_dir}/ (weights, vocabularies, config and a model card).\n")

    pred = predictor.predict([args.sentence])[0]
    print(f'Replaying "{args.sentence}": the network reads one word at a time, left to right.\n')
    width = max(8, max(len(t) for t in pred["tokens"]) + 2)
    scores = pred["influence"]["scores"]
    scale = max(abs(v) for v in scores) or 1.0
    print(f"  {'word':<{width}}{'best guess after this word':<32}contribution to the final decision")
    for step, influence in zip(pred["steps"], scores):
        best = step["ranking"][0]
        guess = f"{best['label']} ({best['probability']:.0%})"
        print(f"  {step['token']:<{width}}{guess:<32}{influence:+.2f} {_bar(influence, scale)}")
    answer = pred["answer"]
    print(f"\nFinal intent: {answer['label']} ({answer['probability']:.1%})")
    print(f"Contribution = gradient x input on each word's embedding, of the log-odds of {answer['label']}: "
          f"how much the word pushed the network towards it (+) or away from it (-).\n")
    print("Try your own sentence:")
    print(f'  rnnlab predict {bundle_dir} "wake me up at seven tomorrow"')
    print(f'  rnnlab predict {bundle_dir} --json "is it going to rain"   (every word\'s guess and contribution)')
    print("Where to go next:")
    steps = [("rnnlab train configs/demo.toml model.cell=gru", "train it yourself, with another cell"),
             (f"rnnlab evaluate {bundle_dir} --split test", "score a bundle on a data split"),
             (f"rnnlab serve {bundle_dir}", "a web page showing what the network remembers"),
             ("rnnlab data", "the real datasets the recipes use (SNIPS, PTB, ...)"),
             ("docs/architecture.md", "how the pieces fit together")]
    width = max(len(cmd) for cmd, _ in steps) + 3
    for cmd, what in steps:
        print(f"  {cmd:<{width}}{what}")
    return 0
