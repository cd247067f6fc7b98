"""A toy "language" for the translation tests: lowercase words -> the same words in upper case, in reverse order.
A tiny model learns the 40 training pairs exactly in a few seconds on one thread (tests/tasks/test_translate.py);
a few epochs give an under-trained one, as a real model is on a hard sentence (tests/cli/test_bad_input_text.py)."""
from __future__ import annotations

import random
from pathlib import Path

WORDS = "red blue cat dog runs sees big small the a".split()


def toy_pairs(n: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(2, 4))
        pairs.append((" ".join(words), " ".join(w.upper() for w in reversed(words))))
    return pairs


def write_pairs(folder: Path, pairs) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.src").write_text("".join(s + "\n" for s, _ in pairs))
    (folder / "train.tgt").write_text("".join(t + "\n" for _, t in pairs))
    return {"source": str(folder / "train.src"), "target": str(folder / "train.tgt")}


def toy_config(folder: Path, **model) -> dict:
    files = write_pairs(folder / "data", toy_pairs())
    data = {f"{s}_{side}": files[side] for s in ("train", "valid") for side in files}
    return {"task": "translate", "run_dir": str(folder / "run"),
            "data": {**data, "tokenizer": "word", "source_vocab_size": 100, "target_vocab_size": 100},
            "model": {"cell": "gru", "embed_size": 32, "hidden_size": 32, "dropout": 0.0, "beam": 3,
                      **model},
            # adapt off: the tests are calibrated to batches of 8 (15 epochs leave a model unsure on purpose)
            "train": {"epochs": 30, "batch_size": 8, "lr": 0.01, "seed": 0, "warmup_steps": 0, "threads": 1,
                      "progress": False, "adapt": False}}
