"""Tiny intent data and config for fast end-to-end tests of the trainer, bundles and CLI."""
from __future__ import annotations

import json
from pathlib import Path

ROWS = {
    "ask_time": ["what time is it", "tell me the time", "what is the time now", "time please",
                 "do you know the time", "what time is it now please"],
    "ask_weather": ["will it rain", "what is the weather", "is it sunny today", "weather please",
                    "how cold is it", "will it rain tomorrow please"],
    "play_music": ["play some music", "play the beatles", "put on jazz", "music please",
                   "play a song", "play some jazz now please"],
}


def write_tiny_data(folder: Path) -> dict[str, str]:
    """train.jsonl (every row twice, so batches are not trivial) and test.jsonl; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [{"text": t, "intent": k} for k, ts in ROWS.items() for t in ts] * 2
    test = [{"text": "what is the time please", "intent": "ask_time"},
            {"text": "is it raining", "intent": "ask_weather"},
            {"text": "play jazz please", "intent": "play_music"}]
    paths = {}
    for name, rows in (("train", train), ("test", test)):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths[name] = str(path)
    return paths


def tiny_overrides(paths: dict[str, str], run_dir: Path, **train) -> list[str]:
    """Overrides for a tiny, fast, deterministic intent run (no dropout: DDP/resume comparisons)."""
    # adapt off: these runs test the trainer's mechanics at exact batch sizes and positions (test_adapt.py
    # turns it on where adaptation is what is tested)
    values = {"epochs": 3, "batch_size": 8, "lr": 0.01, "seed": 0, "progress": False, "schedule": "cosine",
              "adapt": "false"}
    values.update(train)
    return (["task=intent", f"run_dir={run_dir}", f"data.train={paths['train']}", f"data.test={paths['test']}",
             "data.valid_fraction=0.2", "model.embed_size=8", "model.hidden_size=12", "model.dropout=0.0",
             "model.word_dropout=0.0"]
            + [f"train.{k}={v}" for k, v in values.items()])


def write_tiny_config(folder: Path, paths: dict[str, str], run_dir: Path) -> Path:
    path = folder / "tiny.toml"
    path.write_text(f'task = "intent"\nrun_dir = "{run_dir}"\n[data]\ntrain = "{paths["train"]}"\n'
                    f'test = "{paths["test"]}"\nvalid_fraction = 0.2\n[model]\nembed_size = 8\nhidden_size = 12\n'
                    'dropout = 0.0\nword_dropout = 0.0\n[train]\nepochs = 3\nbatch_size = 8\nlr = 0.01\n'
                    'progress = false\n')
    return path
