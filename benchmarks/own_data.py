"""Your own data, small: the default recipes on sets of tens or hundreds of examples, beside a hand-tuned
recipe, through the documented route (`rnnlab train CONFIG data.<paths>=...`, nothing else overridden).

    python benchmarks/own_data.py --runs /tmp/own_data            # every row (about 25 minutes on 2 cores)
    python benchmarks/own_data.py --only speech --runs /tmp/own   # some rows

Rows:
- speech: a two-word recording set in the shape of a classic first experiment (60 WAVs at 8 kHz, each eight
  words from a two-word vocabulary; 27 train + 4 valid, 29 test), made from FSDD recordings of two digits
  (`make_two_word_set`): each utterance is one speaker reading eight digits drawn from the two, joined with
  50-300 ms gaps of room tone. Training and validation utterances come from FSDD's training recordings
  (index 5-49), test utterances from its official test recordings (index 0-4) only. Trained with
  configs/digits.toml and only data.format/train/valid/test set; scored as `rnnlab transcribe` decodes (the
  recipe's beam search with the lexicon), WER by jiwer. Target: test WER <= 1 % within 5 minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402,F401


def make_two_word_set(recordings: Path, out: Path, *, digits: tuple[int, int] = (0, 1), n_train: int = 27,
                      n_valid: int = 4, n_test: int = 29, n_dev: int = 0, words: int = 8, gap_min: float = 0.05,
                      gap_max: float = 0.3, seed: int = 0, sample_rate: int = 8000, speaker: str = "") -> dict[str, Path]:
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
