"""benchmarks/ptb_race.py: the peer's batching (word_language_model's batchify / get_batch), the missing-data
refusal, and --quick (the JSON's structure, not the race's outcome)."""
import importlib.util
import json
import math
import os
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ptb_race.py"
DATA = os.environ.get("RNNLAB_DATA")
HAVE_PTB = bool(DATA) and (Path(DATA) / "ptb" / "ptb.train.txt").is_file()


@pytest.fixture(scope="module")
def race():
    spec = importlib.util.spec_from_file_location("bench_ptb_race", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(race, *args: str) -> int:
    threads = torch.get_num_threads()
    try:
        return race.main(list(args))
    finally:
        torch.set_num_threads(threads)  # the benchmark sets it for the whole process


def test_batchify_and_get_batch(race):
    source = race.batchify(torch.tensor(list(range(23))), 4)
    assert source.shape == (5, 4)  # 23 // 4 rows; the 3 tokens that fill no row are dropped
    assert source[:, 1].tolist() == [5, 6, 7, 8, 9]  # column b: the b-th contiguous slice of the stream
    x, y = race.get_batch(source, 0, 3)
    assert x.shape == y.shape == (3, 4)
    assert torch.equal(x, source[0:3]) and torch.equal(y, source[1:4])
    assert (y - x == 1).all()  # each target is the next token of the same stream
    x, y = race.get_batch(source, 3, 3)  # the last chunk is shorter: one row of inputs left
    assert x.shape == y.shape == (1, 4) and torch.equal(y, source[4:5])
    # every row but the first is a target exactly once
    targets = torch.cat([race.get_batch(source, i, 3)[1] for i in range(0, source.size(0) - 1, 3)])
    assert torch.equal(targets, source[1:])


def test_corpus_reads_lines_with_eos_and_train_vocabulary(race, tmp_path):
    paths = {}
    for split, text in (("train", "a b <unk>\nb c\n"), ("valid", "a z\n"), ("test", "c\n")):
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_text(text)
    corpus = race.Corpus(paths)
    assert list(corpus.vocab) == ["a", "b", "<unk>", "<eos>", "c"]
    assert corpus.ids["train"].tolist() == [0, 1, 2, 3, 1, 4, 3]
    assert corpus.ids["valid"].tolist() == [0, 2, 3]  # z is not in train's vocabulary: <unk>


def test_refuses_in_one_line_without_ptb(race, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path))
    assert run(race, "--quick", "--out", str(tmp_path / "r.json")) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ptb.train.txt" in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.skipif(not HAVE_PTB, reason="Penn Treebank not found: set RNNLAB_DATA to the shared data directory "
                                         "(it needs $RNNLAB_DATA/ptb/ptb.{train,valid,test}.txt)")
def test_quick_race_writes_its_json(race, tmp_path):
    out = tmp_path / "r.json"
    assert run(race, "--quick", "--threads", "1", "--out", str(out)) == 0
    report = json.loads(out.read_text())
    assert report["quick"] and report["command"].endswith(f"--quick --threads 1 --out {out}")
    assert report["machine"]["threads"] == 1 and {"cpu", "native_bf16", "loadavg_after"} <= set(report["machine"])
    assert set(report["versions"]) == {"python", "torch", "rnnlab"}
    peer, ours = report["peer"], report["rnnlab"]
    for side in (peer, ours):
        for key in ("valid_ppl", "test_ppl"):
            assert math.isfinite(side[key]) and side[key] > 1
        assert side["train_s"] > 0 and side["curve"]
    assert peer["source"] == "trained in this run"
    assert [r["epoch"] for r in peer["curve"]] == [1] and peer["recipe"]["lr"] == 20.0
    assert peer["total_s"] >= peer["train_s"] == peer["curve"][-1]["train_time_s"]
    assert peer["valid_ppl"] == pytest.approx(min(r["valid_perplexity"] for r in peer["curve"]), abs=0.02)
    assert ours["precision"] in ("fp32", "bf16") and ours["engine"] == "auto"  # configs/ptb_fast.toml's
    assert ours["engine_ran"] == "fused"  # auto runs an LSTM on torch's kernels (native.FASTER_THAN_TORCH)
    assert ours["budget_s"] == pytest.approx(peer["train_s"] / 3, abs=0.01)
    reached = ours["reached_peer_valid_at_s"]
    assert reached is None or reached in [r["train_time_s"] for r in ours["curve"]]
    targets = {t["name"]: t for t in report["targets"]}
    assert list(targets) == ["rnnlab_test_perplexity_vs_peer", "rnnlab_train_time_over_peer"]
    assert all(t["direction"] == "<=" for t in targets.values())
    ppl = targets["rnnlab_test_perplexity_vs_peer"]
    assert (ppl["value"], ppl["target"]) == (ours["test_ppl"], peer["test_ppl"])
    ratio = targets["rnnlab_train_time_over_peer"]
    assert ratio["value"] == pytest.approx(ours["train_s"] / peer["train_s"])
    assert ratio["target"] == pytest.approx(1 / 3)
    assert (tmp_path / report["plot"]).is_file() and report["plot"] == "r.png"

    # --peer-json: the same peer again, not retrained, and the JSON says where it came from
    again = tmp_path / "again.json"
    assert run(race, "--quick", "--threads", "1", "--peer-json", str(out), "--out", str(again)) == 0
    reused = json.loads(again.read_text())["peer"]
    assert reused["source"]["reused_from"] == str(out) and reused["source"]["earlier_source"] == peer["source"]
    assert {k: reused[k] for k in ("train_s", "valid_ppl", "test_ppl", "curve")} == \
        {k: peer[k] for k in ("train_s", "valid_ppl", "test_ppl", "curve")}
