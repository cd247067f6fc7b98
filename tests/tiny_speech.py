"""Tiny speech data the tests write themselves: 'words' that are tones (a = 400 Hz, b = 900 Hz, c = 1600 Hz),
spoken alone (the spoken_word task) or in short sentences with pauses (the speech / CTC task), as 8 kHz WAVs
with a manifest; and configs small enough to train in seconds."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnlab.config import config_from_dict

RATE = 8000
TONES = {"a": 400.0, "b": 900.0, "c": 1600.0}


def tone_wave(words: list[str], rng: random.Random, *, word_s: float = 0.2, gap_s: float = 0.08) -> np.ndarray:
    """Silence, tone, silence, ...: each word a tone of its frequency with a little noise. (n,) float32."""
    pieces = [np.zeros(int(gap_s * RATE), np.float32)]
    for w in words:
        t = np.arange(int(word_s * RATE * rng.uniform(0.8, 1.2))) / RATE
        pieces.append((0.5 * np.sin(2 * np.pi * TONES[w] * t)).astype(np.float32))
        pieces.append(np.zeros(int(gap_s * RATE * rng.uniform(0.8, 1.5)), np.float32))
    wave = np.concatenate(pieces)
    return (wave + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.01, wave.shape)).astype(np.float32)


def write_speech_data(folder: Path, n: int = 48, *, sentences: bool = True, seed: int = 0) -> dict[str, str]:
    """folder/wavs/*.wav and folder/train.tsv, folder/test.tsv (path, transcript); returns the manifest paths.
    sentences=False: one word per recording (the classifier's data)."""
    rng = random.Random(seed)
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    out = {}
    for split, count in (("train", n), ("test", max(6, n // 4))):
        rows = ["path\ttranscript"]
        for i in range(count):
            words = ([rng.choice("abc") for _ in range(rng.randint(1, 3))] if sentences else [rng.choice("abc")])
            name = f"wavs/{split}_{i}.wav"
            sf.write(folder / name, tone_wave(words, rng), RATE, subtype="PCM_16")
            rows.append(f"{name}\t{' '.join(words)}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
        out[split] = str(folder / f"{split}.tsv")
    return out


def speech_config(paths: dict[str, str], run_dir: Path, *, task: str = "speech", data: dict | None = None,
                  model: dict | None = None, train: dict | None = None):
    return config_from_dict({
        "task": task, "run_dir": str(run_dir),
        "data": {"format": "manifest", "train": paths["train"], "test": paths.get("test", ""), "valid_fraction": 0.2,
                 **(data or {})},
        "model": {"features": "logmel", "sample_rate": RATE, "n_mels": 16, "hidden_size": 16, "num_layers": 1,
                  "dropout": 0.0, "beam": 4, **(model or {})},
        "train": {"epochs": 25, "batch_size": 8, "lr": 0.02, "seed": 0, "progress": False, "warmup_steps": 0,
                  **(train or {})}})
