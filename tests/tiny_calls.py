"""Tiny API-call data (3 families, each with its own calls) and a trained bundle, for the calls tests."""
from __future__ import annotations

import random
from pathlib import Path

from rnnlab.config import config_from_dict

FAMILIES = ("Adware", "Trojan", "Worms")


def family_sequence(k: int, rng: random.Random, length: int) -> list[int]:
    """Family k calls mostly 10k..10k+3 (in runs), with shared noise calls 90-94 mixed in."""
    out: list[int] = []
    while len(out) < length:
        call = 10 * k + rng.randrange(4) if rng.random() < 0.7 else 90 + rng.randrange(5)
        out += [call] * rng.randrange(1, 4)
    return out[:length]


def write_calls_data(folder: Path, per_family: int = 20, seed: int = 0) -> dict[str, str]:
    """calls.txt (comma-separated), types.txt, index.txt (name=id); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = [(k, family_sequence(k, rng, rng.randrange(8, 40))) for _ in range(per_family) for k in range(len(FAMILIES))]
    (folder / "calls.txt").write_text("".join(",".join(map(str, s)) + "\n" for _, s in rows))
    (folder / "types.txt").write_text("".join(FAMILIES[k] + "\n" for k, _ in rows))
    ids = sorted({c for _, s in rows for c in s})
    (folder / "index.txt").write_text("".join(f"api_{i}={i}\n" for i in ids))
    return {"train": str(folder / "calls.txt"), "train_labels": str(folder / "types.txt"),
            "api_index": str(folder / "index.txt")}


def calls_config(paths: dict[str, str], run_dir: Path, data: dict | None = None, model: dict | None = None,
                 train: dict | None = None):
    return config_from_dict({
        "task": "api_calls", "run_dir": str(run_dir),
        "data": {**paths, "valid_fraction": 0.2, "strategy": "head", "max_calls": 64, **(data or {})},
        "model": {"cell": "gru", "embed_size": 12, "hidden_size": 16, "dropout": 0.0, "word_dropout": 0.0,
                  **(model or {})},
        "train": {"epochs": 15, "batch_size": 8, "lr": 0.02, "seed": 0, "progress": False, "warmup_steps": 0,
                  **(train or {})}})
