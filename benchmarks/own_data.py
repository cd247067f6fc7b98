"""Your own data, small: the default recipes on sets of tens or hundreds of examples, through the documented
route (`rnnlab train CONFIG data.<paths>=...`, nothing else overridden), the speech set against an absolute
target, the others (benchmarks/small_sets.py: translation, forecasting, logs) each beside a hand-tuned recipe.

    python benchmarks/own_data.py                                 # every row -> benchmarks/results/own_data.json
    python benchmarks/own_data.py --only speech --runs /tmp/own   # some rows (the others are kept from the JSON)

Speech rows: two-word recording sets in the shape of a classic first experiment (Kaldi's yes/no: 60 WAVs at
8 kHz, one speaker, each eight words from a two-word vocabulary; 27 train + 4 valid, 29 test), made from FSDD
recordings of two digits, 0 and 1 (`make_two_word_set`): eight digits drawn uniformly from the two, each a
recording of the utterance's speaker, joined with 50-300 ms gaps of room tone. Training and validation
utterances come from FSDD's training recordings (index 5-49), test utterances from its official test
recordings (index 0-4) only.
- speech: one speaker, george (the first of FSDD's six by name), as the yes/no set is one speaker. The
  target: test WER <= 1 % within 5 minutes with configs/digits.toml and only data.format/train/valid/test set.
- speech_speakers: the same for each of the six speakers (each its own set and run): mean and worst WER.
- speech_mixed: all six speakers mixed (a speaker drawn per utterance): a harder set than the target's,
  reported beside it.
Each is trained by the CLI in a subprocess (`rnnlab train ...`, timed from start to exit: reading, features,
training, evaluation, the bundle) and scored as `rnnlab transcribe` decodes (the recipe's beam search with the
lexicon), WER and CER by jiwer; greedy beside it. The recipe's small-data settings (train.min_steps = 2000,
the model unchanged) were chosen on a development set of 30 more utterances of the mixed set, drawn from
training recordings only (`n_dev`), never on a test split.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import small_sets  # noqa: E402
from small_sets import data_root  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "own_data.json"
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
TARGET_WER, TARGET_MINUTES = 0.01, 5.0
THREADS_NOTE = ("speech rows: the config's 2 torch threads (configs/digits.toml train.threads = 2), the CLI in a "
                "subprocess; small-set rows: 1 thread each (benchmarks/small_sets.py THREADS)")
SMALL_ROWS = {"translation": "run_translation", "forecasting": "run_forecasting", "logs": "run_logs"}  # small_sets.py


def make_two_word_set(recordings: Path, out: Path, *, digits: tuple[int, int] = (0, 1), n_train: int = 27,
                      n_valid: int = 4, n_test: int = 29, n_dev: int = 0, words: int = 8, gap_min: float = 0.05,
                      gap_max: float = 0.3, seed: int = 0, sample_rate: int = 8000,
                      speaker: str = "") -> dict[str, Path]:
    """WAVs and three manifests (train.tsv, valid.tsv, test.tsv: `path`, `transcript`) under `out`; returns the
    manifests' paths. Each utterance: one speaker (`speaker`, else one drawn per utterance from all six),
    `words` digits drawn uniformly from `digits`, each a different recording of that speaker (a training
    recording used once while any is left), joined by rnnlab.audio.strings.join with room tone in the gaps."""
    import soundfile as sf

    from rnnlab.audio.strings import DigitString, join
    from rnnlab.readers.audio import fsdd_recordings, read_audio

    recs = [r for r in fsdd_recordings(recordings) if r.digit in digits and (not speaker or r.speaker == speaker)]
    pools = {"train": [r for r in recs if r.index >= 5], "test": [r for r in recs if r.index < 5]}
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    manifests = {}
    cache: dict[Path, np.ndarray] = {}
    used: set[Path] = set()  # a training recording goes into one utterance only: valid never hears a train one
    # dev (only for developing the recipe, never given to a run): more utterances from the training recordings
    # left over after train and valid, drawn after them so train, valid and test are the same with or without it
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test), ("dev", n_dev)):
        if n == 0:
            continue
        pool = pools["test" if split == "test" else "train"]
        speakers = sorted({r.speaker for r in pool})
        rows = ["path\ttranscript"]
        for i in range(n):
            speaker = speakers[int(rng.integers(len(speakers)))]
            said = [int(d) for d in rng.choice(digits, size=words)]
            parts = []
            for d in said:
                free = [r for r in pool if r.speaker == speaker and r.digit == d and r.path not in used]
                if not free:  # test recordings are few (5 per digit and speaker): reuse across utterances
                    free = [r for r in pool if r.speaker == speaker and r.digit == d and r.path not in parts]
                r = free[int(rng.integers(len(free)))]
                parts.append(r.path)
                if split != "test":
                    used.add(r.path)
            for p in parts:
                if p not in cache:
                    cache[p] = read_audio(p, sample_rate).samples
            gaps = tuple(float(g) for g in rng.uniform(gap_min, gap_max, size=words + 1))
            wave = join([cache[p] for p in parts], DigitString(tuple(range(words)), gaps), sample_rate,
                        np.random.default_rng([seed, i, ("train", "valid", "test", "dev").index(split)]))
            name = f"{split}_{i:02d}_{''.join(map(str, said))}.wav"
            sf.write(out / name, wave, sample_rate, subtype="PCM_16")
            rows.append(f"{name}\t{' '.join(map(str, said))}")
        manifests[split] = out / f"{split}.tsv"
        manifests[split].write_text("\n".join(rows) + "\n")
    return manifests


def score_manifest(bundle: Path, manifest: Path) -> dict[str, float]:
    """WER and CER (jiwer) of a speech bundle on a manifest: greedy, and the bundle's own decoder (its beam
    search with the lexicon: what `rnnlab transcribe` prints)."""
    from rnnlab.bundle import load
    from rnnlab.metrics.speech import cer, wer
    from rnnlab.readers.speech import manifest_examples

    predictor = load(bundle)
    examples = manifest_examples(manifest)
    inputs = [x for ex in examples for _, x in predictor.task.inputs_from_file(str(ex.audio))]
    refs = [ex.transcript for ex in examples]
    out = {}
    for name, options in (("greedy", {"beam": 1}), ("decoder", {})):
        hyps = [" ".join(p["sequence"]) for p in predictor.predict(inputs, **options)]
        out[f"{name}_wer"], out[f"{name}_cer"] = wer(refs, hyps), cer(refs, hyps)
        out[f"{name}_word_count_errors"] = sum(len(r.split()) != len(h.split()) for r, h in zip(refs, hyps))
    return out


def train_cli(config: str, overrides: list[str], run_dir: Path) -> dict:
    """`rnnlab train CONFIG OVERRIDES --run-dir RUN_DIR --force` as a user runs it, timed; its bundle's summary."""
    cmd = [str(ROOT / ".venv" / "bin" / "rnnlab"), "train", config, *overrides, "--run-dir", str(run_dir), "--force",
           "--quiet"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RNNLAB_DATA": str(data_root())})
    minutes = (time.perf_counter() - t) / 60
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads((run_dir / "bundle" / "metrics.json").read_text())
    return {"command": "rnnlab train " + shlex.join([config, *overrides]), "minutes": round(minutes, 3),
            "steps": summary.get("steps_run"), "epochs": summary.get("epochs_run"),
            "best_epoch": summary.get("best_epoch"), "stop_reason": summary.get("stop_reason"),
            "adapted": summary.get("adapted"), "precision": summary.get("precision"),
            "output_tail": (done.stdout + done.stderr).strip().splitlines()[-4:]}


def speech_run(name: str, runs: Path, **set_options) -> dict:
    """One two-word set: built, trained with the default recipe, scored on its test split."""
    manifests = make_two_word_set(data_root() / "fsdd" / "recordings", runs / f"{name}-data", **set_options)
    overrides = ["data.format=manifest"] + [f"data.{k}={manifests[k]}" for k in ("train", "valid", "test")]
    row = train_cli("configs/digits.toml", overrides, runs / name)
    row["test"] = score_manifest(runs / name / "bundle", manifests["test"])
    row["set"] = dict(set_options) | {"train": 27, "valid": 4, "test": 29, "words": 8,
                                                            "digits": [0, 1]}
    print(f"{name}: test WER {row['test']['decoder_wer']:.4f} (greedy {row['test']['greedy_wer']:.4f}) "
          f"in {row['minutes']:.2f} min, {row['steps']} steps ({row['stop_reason']})", flush=True)
    return row


def speech_rows(runs: Path, only: set[str]) -> dict:
    rows = {}
    if "speech" in only:
        rows["speech"] = speech_run("speech", runs, speaker="george")
    if "speech_speakers" in only:
        per = {s: (rows["speech"] if s == "george" and "speech" in rows else speech_run(f"speech-{s}", runs, speaker=s))
               for s in SPEAKERS}
        wers = [r["test"]["decoder_wer"] for r in per.values()]
        rows["speech_speakers"] = {"per_speaker": per, "mean_wer": float(np.mean(wers)), "worst_wer": max(wers),
                                   "minutes_max": max(r["minutes"] for r in per.values())}
    if "speech_mixed" in only:
        rows["speech_mixed"] = speech_run("speech-mixed", runs)
    return rows


def targets_of(rows: dict) -> list[dict]:
    out = []
    if "speech" in rows:
        r = rows["speech"]
        out += [benchcommon.target("speech_two_word_test_wer", r["test"]["decoder_wer"], TARGET_WER, "<="),
                benchcommon.target("speech_two_word_minutes", r["minutes"], TARGET_MINUTES, "<=")]
    out += [rows[name]["target"] for name in SMALL_ROWS if name in rows]  # default within 10 % of tuned
    return out


def plot(result: dict, path: Path) -> None:
    """Left: test WER per two-word set (the target's line at 1 %). Right: each small set's default test figure as
    a share of the hand-tuned one, oriented so that higher is better (the target's line at 90 %)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    names, wers = [], []
    for speaker, row in (rows.get("speech_speakers") or {}).get("per_speaker", {}).items():
        names.append(speaker + (" (target)" if speaker == "george" else ""))
        wers.append(100 * row["test"]["decoder_wer"])
    if "speech_mixed" in rows:
        names.append("six mixed")
        wers.append(100 * rows["speech_mixed"]["test"]["decoder_wer"])
    a.bar(names, wers, color=["#c0392b" if w > 100 * TARGET_WER else "#2e86c1" for w in wers])
    a.axhline(100 * TARGET_WER, color="k", ls="--", lw=1, label="target 1 %")
    for x, w in enumerate(wers):
        a.text(x, w, f"{w:.2f}", ha="center", va="bottom", fontsize=8)
    a.set_ylabel("test WER, %")
    a.set_title("two-word sets (27 train + 4 valid utterances), default recipe")
    a.tick_params(axis="x", rotation=30)
    a.legend()
    small = [(n, rows[n]) for n in SMALL_ROWS if n in rows]
    shares = []
    for _, row in small:
        d, t = row["default"]["test"][row["metric"]], row["tuned"]["test"][row["metric"]]
        # oriented so that more is better: BLEU and recall as they are, an error (MSE) inverted
        shares.append(100 * (d / t if row["direction"] == ">=" else t / d) if d and t else float("nan"))
    b.bar([f"{n}\n{row['metric']}" for n, row in small], shares, color="#27ae60")
    for x, v in enumerate(shares):
        b.text(x, v, f"{v:.0f} %", ha="center", va="bottom", fontsize=8)
    b.axhline(90, color="k", ls="--", lw=1, label="target: within 10 % of tuned")
    b.axhline(100, color="0.5", lw=1)
    b.set_ylabel("default's test figure, % of hand-tuned's\n(errors inverted: higher is better)")
    b.set_title("small sets: default vs tuned on valid")
    b.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, default=Path("runs/own_data"), help="where the sets and runs go")
    p.add_argument("--only", nargs="*", default=None, help="rows to run (default: all); others kept from the JSON")
    p.add_argument("--out", type=Path, default=RESULT)
    p.add_argument("--plot", action="store_true", help="only redraw the PNG beside --out from its JSON")
    args = p.parse_args(argv)
    if args.plot:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    every = ["speech", "speech_speakers", "speech_mixed", *SMALL_ROWS]
    only = set(args.only or every)
    unknown = only - set(every)
    if unknown:
        p.error(f"unknown rows {sorted(unknown)}; rows: {', '.join(every)}")
    args.runs.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = dict(old.get("rows", {}))
    rows.update(speech_rows(args.runs, only))
    for name, runner in SMALL_ROWS.items():
        if name in only:
            rows[name] = getattr(small_sets, runner)(args.runs)
    targets = targets_of(rows)
    result = {"benchmark": "own_data", "issue": 30,
              "command": "python benchmarks/own_data.py " + shlex.join(sys.argv[1:] if argv is None else argv),
              "machine": benchcommon.machine(2, note=THREADS_NOTE), "rows": rows, "targets": targets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out.with_suffix(".png"))
    print(benchcommon.describe(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
