"""A tiny hourly series (a daily sine plus a slow one) and a forecast config that learns it in seconds."""
from __future__ import annotations

import math
from pathlib import Path

from rnnlab.config import config_from_dict


def sine_rows(n: int, start_hour: int = 0, note: bool = False) -> list[str]:
    out = []
    for i in range(start_hour, start_hour + n):
        day, hour = divmod(i, 24)
        t = f"2021-{1 + day // 28:02d}-{1 + day % 28:02d} {hour:02d}:00:00"
        a, b = math.sin(2 * math.pi * i / 24), 5 + math.cos(2 * math.pi * i / 60)
        out.append(f"{t},{'x' if note else ''}{',' if note else ''}{a:.5f},{b:.5f}")
    return out


def write_series(folder: Path, n: int = 600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "series.csv"
    path.write_text("date,a,b\n" + "\n".join(sine_rows(n)) + "\n")
    return path


def series_config(path: Path, run_dir: Path, **model):
    return config_from_dict({
        "task": "forecast", "run_dir": str(run_dir),
        "data": {"path": str(path), "lookback": 48, "horizon": 12, "train_rows": 400, "valid_rows": 100,
                 "test_rows": 100},
        "model": {"arch": "segrnn", "cell": "gru", "hidden_size": 24, "segment": 12, "dropout": 0.0, **model},
        "train": {"epochs": 8, "batch_size": 32, "lr": 0.01, "seed": 0, "progress": False, "threads": 1}})
