"""Speech recognition on real recordings: FSDD spoken digits (official and speaker-independent splits),
connected digits made from FSDD, and CMU AN4 continuous speech with CTC.

    python benchmarks/speech.py --runs /tmp/speechruns          # every row (about 90 minutes on 2 cores)
    python benchmarks/speech.py --only fsdd speakers            # some rows; the others are left out of the JSON
    python benchmarks/speech.py --quick                         # a smoke run (~2 min): tiny budgets, small splits

Each row trains one config of configs/ through the ordinary trainer (`rnnlab.training.train`), bounded by its
training-time budget (`train.max_minutes`), and is scored on its test split by the bundle the training wrote.
With `--reuse`, a run directory under --runs that already holds a finished bundle of exactly the same config
(the same data, model and train sections, every value) is scored instead of trained again; the JSON says so
for each row (`reused`), and the training figures (minutes, epochs) are the ones that run recorded.

Protocols:
- FSDD, official split (configs/fsdd.toml): recordings 0-4 of every speaker and digit are the test split
  (300), 10 % of the others (fixed seed) validation, the rest training. Test accuracy. Also each of the 6
  speakers held out in turn (data.test_speaker): trained on the other 5 speakers' recordings, tested on all
  500 of the held-out one: what a new user's voice meets.
- Connected digits (configs/digits.toml): 1,000 test strings of 2-7 digits from the official test
  recordings only (training strings from training recordings only; validation strings from held-out
  training recordings). Digit error rate = jiwer WER over the digit tokens, string accuracy; greedy and
  beam search with the digit lexicon, the decoder chosen on the validation strings.
- AN4 (configs/an4.toml): the 130 test utterances; WER / CER (jiwer). Decoders: greedy; prefix beam search
  with the training transcripts' lexicon; the same with their word 3-gram (Kneser-Ney). The LM weight and
  word bonus are chosen on the validation utterances (5 % of train), never on test; the best decoder is the
  one with the lowest validation WER.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import lmbench  # noqa: E402

CONFIGS = {"fsdd": ROOT / "configs" / "fsdd.toml", "digits": ROOT / "configs" / "digits.toml",
           "an4": ROOT / "configs" / "an4.toml"}
ROWS = ("fsdd", "speakers", "digits", "an4")
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
TARGETS = {"fsdd_accuracy": 0.99, "fsdd_minutes": 15.0, "digit_error_rate": 0.02, "an4_wer": 0.15, "an4_cer": 0.08,
           "an4_minutes": 60.0}
ANCHORS = {
    "fsdd": "community results on the official split 95-98.4 % (none peer-reviewed; CNN ~97 %, LSTM 93-96 %)",
    "an4": "from audio, mostly on GPU: deepspeech.pytorch 5x800 GRU CTC WER 9.6-10.5 / CER 4.8-5.2; ESPnet "
           "BLSTMP CTC-only CER 12.6; Kaldi monophone WER 10.6",
}
LM_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
WORD_BONUSES = (0.0, 0.5, 1.0, 2.0, 3.0)


def same_config(run_dir: Path, cfg) -> bool:
    """Whether run_dir holds a finished bundle trained with exactly this config (data, model, train)."""
    from rnnlab.config import to_dict

    saved, bundle = run_dir / "config.json", run_dir / "bundle" / "metrics.json"
    if not (saved.is_file() and bundle.is_file()):
        return False
    from rnnlab.config import config_from_dict

    raw = json.loads(saved.read_text())
    if cfg.train.precision == "auto":  # a run's config.json records what auto resolved to
        raw = {**raw, "train": {**raw["train"], "precision": "auto"}}
    # read as a saved config is (keys added since take their defaults), then compared value by value
    mine, theirs = to_dict(cfg), to_dict(config_from_dict(raw, str(saved), migrate=True))
    return all(mine.get(k) == theirs.get(k) for k in ("task", "data", "model", "train"))


def train_row(name: str, config: Path, overrides: list[str], runs: Path, threads: int, command: str,
              reuse: bool) -> tuple[dict[str, Any], Path]:
    """Train (or, with --reuse, find) one run; its summary and its bundle's path."""
    from rnnlab.config import load_config
    from rnnlab.training import train

    run_dir = runs / name
    cfg = load_config(config, overrides + [f"run_dir={run_dir}", "train.progress=false", f"train.threads={threads}"])
    reused = reuse and same_config(run_dir, cfg)
    clock = lmbench.Clock()
    if reused:
        summary = json.loads((run_dir / "bundle" / "metrics.json").read_text())
    else:
        summary = train(cfg, overwrite=True, command=command, echo=None)
    trained_by = json.loads((run_dir / "bundle" / "config.json").read_text()).get("command", "")
    row = {"config": str(config.relative_to(ROOT)), "overrides": overrides, "reused": reused,
           "trained_by": trained_by,  # the command that trained the bundle (this one, unless reused)
           "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
           "stopped_early": summary["stopped_early"], "out_of_time": summary["out_of_time"],
           "train_minutes": round(summary["train_time_s"] / 60, 2), "parameters": summary["parameters"],
           "budget_minutes": cfg.train.max_minutes, "threads": threads,
           "valid": {k: round(v, 5) for k, v in summary["valid"].items()},
           "test": {k: round(v, 5) for k, v in summary.get("test", {}).items()}, "clock": clock.report()}
    print(f"[{name}] {row['epochs_run']} epochs, {row['train_minutes']} min{' (reused)' if reused else ''}: "
          f"valid {row['valid']}, test {row['test']}", flush=True)
    return row, run_dir / "bundle"


def split_outputs(predictor, split: str) -> tuple[list[str], list[np.ndarray], list[Any]]:
    """(reference transcripts, per-utterance (T', V) log-probabilities, examples) of a speech bundle's split."""
    task, model = predictor.task, predictor.model
    examples = task.read(split)
    feats = [task.encode(e) for e in examples]
    order = task.batches(feats, 32, shuffle=False)
    log_probs: list[np.ndarray | None] = [None] * len(feats)
    model.eval()
    for idx in order:
        for i, lp in zip(idx, task.log_probs(model, [task.collate([feats[i] for i in idx])])):
            log_probs[i] = lp
    return [e.transcript for e in examples], log_probs, examples


def score(refs: list[str], hyps: list[str]) -> dict[str, float]:
    from rnnlab.metrics.speech import cer, wer

    return {"wer": round(wer(refs, hyps), 5), "cer": round(cer(refs, hyps), 5),
            "sentence_accuracy": round(float(np.mean([r == h for r, h in zip(refs, hyps)])), 5)}


def decode_all(task, log_probs: list[np.ndarray], options: dict[str, Any]) -> list[str]:
    return [task.decode(lp, options) for lp in log_probs]


# ---- rows -----------------------------------------------------------------------------------------

def fsdd_row(args, runs: Path, command: str, quick: list[str]) -> dict[str, Any]:
    import rnnlab

    row, bundle = train_row("fsdd", CONFIGS["fsdd"], quick + args.fsdd_overrides, runs, args.threads, command,
                            args.reuse)
    predictor = rnnlab.load(bundle)
    examples = predictor.task.read("test")
    preds = []
    for start in range(0, len(examples), 64):
        preds += predictor.predict([str(e.audio) for e in examples[start:start + 64]])
    wrong = [{"file": e.name, "true": e.transcript, "predicted": p["answer"]["label"]}
             for e, p in zip(examples, preds) if p["answer"]["label"] != e.transcript]
    accuracy = 1 - len(wrong) / len(examples)
    classes = predictor.task.classes
    confusion = [[sum(1 for e, p in zip(examples, preds) if e.transcript == t and p["answer"]["label"] == q)
                  for q in classes] for t in classes]
    return {**row, "test_examples": len(examples), "accuracy": round(accuracy, 5), "errors": wrong,
            "classes": classes, "confusion": confusion}


def speakers_row(args, runs: Path, command: str, quick: list[str]) -> dict[str, Any]:
    per = {}
    for speaker in args.speakers:
        row, _ = train_row(f"fsdd-{speaker}", CONFIGS["fsdd"],
                           quick + args.fsdd_overrides + [f"data.test_speaker={speaker}",
                                                          f"train.max_minutes={args.speaker_minutes}"],
                           runs, args.threads, command, args.reuse)
        per[speaker] = row
    accs = [r["test"]["accuracy"] for r in per.values()]
    return {"speakers": per, "accuracy_mean": round(float(np.mean(accs)), 5),
            "accuracy_min": round(float(np.min(accs)), 5), "budget_minutes": args.speaker_minutes}


def digits_row(args, runs: Path, command: str, quick: list[str]) -> dict[str, Any]:
    import rnnlab

    row, bundle = train_row("digits", CONFIGS["digits"], quick + args.digits_overrides, runs, args.threads, command,
                            args.reuse)
    predictor = rnnlab.load(bundle)
    task = predictor.task
    v_refs, v_lp, _ = split_outputs(predictor, "valid")
    refs, log_probs, _ = split_outputs(predictor, "test")
    decoders = {"greedy": task.decoder_options(beam=1), "beam+lexicon": task.decoder_options()}
    valid = {name: score(v_refs, decode_all(task, v_lp, options)) for name, options in decoders.items()}
    out = {}
    for name, options in decoders.items():
        hyps = decode_all(task, log_probs, options)
        s = score(refs, hyps)
        by_length = {}
        for n in sorted({len(r.split()) for r in refs}):
            at = [i for i, r in enumerate(refs) if len(r.split()) == n]
            by_length[n] = score([refs[i] for i in at], [hyps[i] for i in at]) | {"strings": len(at)}
        out[name] = {"digit_error_rate": s["wer"], "string_accuracy": s["sentence_accuracy"], "by_length": by_length}
    best = min(valid, key=lambda k: (valid[k]["wer"], k))  # chosen on the validation strings, never on test
    return {**row, "test_strings": len(refs), "valid_strings": len(v_refs), "valid_decoders": valid,
            "decoders": out, "best_decoder": best,
            "digit_error_rate": out[best]["digit_error_rate"], "string_accuracy": out[best]["string_accuracy"]}


def an4_row(args, runs: Path, command: str, quick: list[str]) -> dict[str, Any]:
    import rnnlab

    row, bundle = train_row("an4", CONFIGS["an4"], quick + args.an4_overrides, runs, args.threads, command,
                            args.reuse)
    predictor = rnnlab.load(bundle)
    task = predictor.task
    v_refs, v_lp, _ = split_outputs(predictor, "valid")
    t_refs, t_lp, t_examples = split_outputs(predictor, "test")
    beam = args.beam
    # the decoders, and the LM weight / word bonus grid, scored on validation only
    valid: dict[str, Any] = {"greedy": score(v_refs, decode_all(task, v_lp, task.decoder_options(beam=1)))}
    lexicon_only = dict(task.decoder_options(beam=beam), lm=None)
    valid["beam+lexicon"] = score(v_refs, decode_all(task, v_lp, lexicon_only))
    grid = []
    if task.lm is not None:
        weights, bonuses = ((0.0, 0.5), (0.0, 1.0)) if args.quick else (LM_WEIGHTS, WORD_BONUSES)
        for alpha in weights:
            for beta in bonuses:
                s = score(v_refs, decode_all(task, v_lp, task.decoder_options(beam=beam, lm_weight=alpha,
                                                                               word_bonus=beta)))
                grid.append({"lm_weight": alpha, "word_bonus": beta, **s})
        chosen = min(grid, key=lambda g: (g["wer"], g["cer"], g["lm_weight"], g["word_bonus"]))
        valid["beam+lexicon+lm"] = {k: chosen[k] for k in ("wer", "cer", "sentence_accuracy")}
        lm_options = task.decoder_options(beam=beam, lm_weight=chosen["lm_weight"], word_bonus=chosen["word_bonus"])
    else:
        chosen, lm_options = None, None
    best = min(valid, key=lambda k: (valid[k]["wer"], valid[k]["cer"]))
    test: dict[str, Any] = {}
    hyps_by = {}
    for name, options in (("greedy", task.decoder_options(beam=1)), ("beam+lexicon", lexicon_only),
                          ("beam+lexicon+lm", lm_options)):
        if options is None:
            continue
        hyps_by[name] = decode_all(task, t_lp, options)
        test[name] = score(t_refs, hyps_by[name])
    examples = [{"id": e.name, "reference": r, "greedy": g, best: h}
                for e, r, g, h in list(zip(t_examples, t_refs, hyps_by["greedy"], hyps_by[best]))[:12]]
    return {**row, "valid_utterances": len(v_refs), "test_utterances": len(t_refs), "beam": beam,
            "valid_decoders": valid, "lm_grid": grid, "chosen_lm": chosen, "best_decoder": best,
            "test_decoders": test, "wer": test[best]["wer"], "cer": test[best]["cer"],
            "lexicon_words": len(task.words), "lm_order": task.model_config.lm_order, "examples": examples,
            "anchors": ANCHORS["an4"]}


def plot(result: dict[str, Any], runs: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    if "speakers" in result:
        sp = result["speakers"]["speakers"]
        names = list(sp)
        axes[0].bar(names, [100 * sp[s]["test"]["accuracy"] for s in names], color="#4c78a8")
        if "fsdd" in result:
            axes[0].axhline(100 * result["fsdd"]["accuracy"], color="#e45756", ls="--",
                            label=f"official split {100 * result['fsdd']['accuracy']:.1f} %")
            axes[0].legend(loc="lower right")
        axes[0].set_ylim(0, 100)
        axes[0].set_ylabel("test accuracy (%)")
        axes[0].set_title("FSDD: each speaker held out (never heard in training)")
        axes[0].tick_params(axis="x", rotation=30)
    if "an4" in result:
        lines = [json.loads(x) for x in (runs / "an4" / "metrics.jsonl").read_text().splitlines() if x.strip()]
        axes[1].plot([x["epoch"] for x in lines], [100 * x["valid_cer"] for x in lines], label="valid CER (greedy)")
        axes[1].plot([x["epoch"] for x in lines], [100 * x["valid_wer"] for x in lines], label="valid WER (greedy)")
        best = result["an4"]["test_decoders"][result["an4"]["best_decoder"]]
        axes[1].axhline(100 * best["wer"], color="#e45756", ls="--",
                        label=f"test WER {result['an4']['best_decoder']}: {100 * best['wer']:.1f} %")
        axes[1].set_ylim(0, 100)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("%")
        axes[1].set_title("AN4: CTC training (valid, greedy) and the test WER")
        axes[1].legend()
    if "digits" in result:
        d = result["digits"]["decoders"][result["digits"]["best_decoder"]]["by_length"]
        lengths = sorted(d, key=int)
        axes[2].bar([str(n) for n in lengths], [100 * d[n]["wer"] for n in lengths], color="#72b7b2")
        axes[2].set_xlabel("digits in the string")
        axes[2].set_ylabel("digit error rate (%)")
        axes[2].set_title(f"Connected digits: DER {100 * result['digits']['digit_error_rate']:.2f} % on "
                          f"{result['digits']['test_strings']} strings")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    p.add_argument("--quick", action="store_true", help="tiny budgets and small splits (structure, not accuracy)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", default="", help="where run directories go (default: a temporary directory)")
    p.add_argument("--reuse", action="store_true", help="score finished runs of the same config instead of training")
    p.add_argument("--speakers", nargs="+", default=list(SPEAKERS))
    p.add_argument("--speaker-minutes", type=float, default=2.5, help="training budget per held-out speaker")
    p.add_argument("--beam", type=int, default=16, help="AN4 beam width")
    p.add_argument("--fsdd-overrides", nargs="*", default=[])
    p.add_argument("--digits-overrides", nargs="*", default=[])
    p.add_argument("--an4-overrides", nargs="*", default=[])
    p.add_argument("--out", default="", help="default benchmarks/results/speech.json; with --quick "
                   "$TMPDIR/speech-quick.json (a smoke run never replaces the committed result)")
    args = p.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/speech.py " + " ".join(shlex.quote(a) for a in given)
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory(prefix="speech-bench-")
    runs = Path(args.runs) if args.runs else Path(tmp.name)
    clock = lmbench.Clock()
    quick = {"fsdd": ["train.max_minutes=0.15", "train.epochs=2"],
             "digits": ["data.strings_train=120", "data.strings_valid=20", "data.strings_test=40",
                        "train.max_minutes=0.2", "train.epochs=2", "model.hidden_size=32"],
             "an4": ["train.max_minutes=0.2", "train.epochs=1", "model.hidden_size=32", "model.num_layers=1"]}
    if args.quick:
        args.speaker_minutes = 0.1
        args.speakers = args.speakers[:1]
        args.beam = min(args.beam, 4)
    q = (lambda k: quick[k]) if args.quick else (lambda k: [])
    result: dict[str, Any] = {"benchmark": "speech", "command": command, "quick": args.quick,
                              "machine": lmbench.machine(), "versions": versions()}
    if "fsdd" in args.only:
        result["fsdd"] = fsdd_row(args, runs, command, q("fsdd"))
    if "speakers" in args.only:
        result["speakers"] = speakers_row(args, runs, command, q("fsdd") if args.quick else [])
    if "digits" in args.only:
        result["digits"] = digits_row(args, runs, command, q("digits"))
    if "an4" in args.only:
        result["an4"] = an4_row(args, runs, command, q("an4"))
    targets = []
    if "fsdd" in result:
        targets += [benchcommon.target("fsdd_test_accuracy", result["fsdd"]["accuracy"], TARGETS["fsdd_accuracy"],
                                       ">="),
                    benchcommon.target("fsdd_training_minutes", result["fsdd"]["train_minutes"],
                                       TARGETS["fsdd_minutes"], "<=")]
    if "digits" in result:
        targets.append(benchcommon.target("connected_digit_error_rate", result["digits"]["digit_error_rate"],
                                          TARGETS["digit_error_rate"], "<=",
                                          string_accuracy=result["digits"]["string_accuracy"]))
    if "an4" in result:
        targets += [benchcommon.target("an4_test_wer", result["an4"]["wer"], TARGETS["an4_wer"], "<=",
                                       decoder=result["an4"]["best_decoder"]),
                    benchcommon.target("an4_test_cer", result["an4"]["cer"], TARGETS["an4_cer"], "<=",
                                       decoder=result["an4"]["best_decoder"]),
                    benchcommon.target("an4_training_minutes", result["an4"]["train_minutes"],
                                       TARGETS["an4_minutes"], "<=")]
    result["anchors"] = ANCHORS
    result["clock"] = clock.report()
    result["targets"] = targets
    out = Path(args.out or (Path(tempfile.gettempdir()) / "speech-quick.json" if args.quick
                            else ROOT / "benchmarks" / "results" / "speech.json"))
    lmbench.write_json(out, result)
    plot(result, runs, out.with_suffix(".png"))
    print(benchcommon.describe(targets))
    tmp.cleanup()
    return 0


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "librosa", "soundfile", "soxr", "jiwer", "numpy")}


if __name__ == "__main__":
    os.environ.setdefault("RNNLAB_DATA", str(ROOT.parent / "shared" / "data"))
    sys.exit(main())
