"""benchmarks/translate.py: the length penalty is chosen on val and test is decoded once, at the choice; a file
with the en -> de row alone states only en -> de targets (toy bundle from tests/tiny_translate.py)."""
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.config import config_from_dict
from rnnlab.training import train

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from tiny_translate import toy_config  # noqa: E402


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("translate")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("translate-bench")
    cfg = toy_config(folder)
    cfg["train"]["epochs"] = 12  # under-trained: the length penalty has something to change
    cfg["data"]["test_source"], cfg["data"]["test_target"] = cfg["data"]["valid_source"], cfg["data"]["valid_target"]
    train(config_from_dict(cfg), echo=None, command="tests/benchmarks/test_bench_translate.py")
    return folder / "run" / "bundle"


def test_length_penalty_is_chosen_on_val_and_test_scored_at_the_choice(bench, bundle):
    sweep = bench.length_penalty_sweep(bundle, 3, "en", [0.0, 1.0, 3.0])
    valid = {float(a): v["bleu_lowercase"] for a, v in sweep["valid_beam"].items()}
    assert set(valid) == {0.0, 1.0, 3.0}
    assert sweep["chosen"] == max(valid, key=valid.get)
    assert sweep["test_beam"]["length_penalty"] == sweep["chosen"]
    again = bench.test_scores(bundle, 3, "en", length_penalty=sweep["chosen"])
    assert again["bleu_lowercase"] == sweep["test_beam"]["bleu_lowercase"]  # the same decode, the same score
    # Without an override the bundle's own penalty (the config's model.length_penalty) decodes.
    assert bench.test_scores(bundle, 3, "en")["length_penalty"] == 0.0


def _row(name: str, bleu: float) -> dict:
    scores = {"bleu_lowercase": bleu, "bleu_moses_lowercase": bleu + 0.01}
    return {"row": name, "train_minutes": 59.5, "test_beam": scores, "test_greedy": scores,
            "curve": [{"epoch": 1, "valid_loss": 3.0, "valid_bleu_lowercase": bleu, "train_time_s": 60.0}]}


def test_an_en_de_file_states_en_de_targets_only(bench, tmp_path):
    out = tmp_path / "m.json"
    bench.report([_row("en-de", 31.0)], out, "cmd", 60.0, False)
    import json

    names = [t["name"] for t in json.loads(out.read_text())["targets"]]
    assert names == ["test_bleu_moses_lowercase_en_de", "test_bleu_lowercase_en_de", "train_minutes_en_de"]
    bench.report([_row("de-en", 30.0), _row("en-de", 31.0)], out, "cmd", 60.0, False)
    targets = {t["name"]: t for t in json.loads(out.read_text())["targets"]}
    assert targets["test_bleu_moses_lowercase_de_en"]["value"] == 30.01
    assert targets["test_bleu_moses_lowercase_de_en"]["target"] == bench.TARGET_BLEU
    assert targets["test_bleu_moses_lowercase_en_de"]["target"] == bench.ANCHOR_EN_DE
