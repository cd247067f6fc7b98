"""benchmarks/serve.py against a real `rnnlab serve` (uvicorn, batching on) for a second: the JSON it writes,
with the figures of every bundle and the targets of issue 27 (structure and correctness, not speed)."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from rnnlab.config import config_from_dict
from rnnlab.training import train

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bench-serve") / "intent"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config_from_dict({"task": "intent", "run_dir": str(run_dir), "data": {},
                                "model": {"embed_size": 8, "hidden_size": 8, "dropout": 0.0, "cell": "gru"},
                                "train": {"epochs": 1, "batch_size": 32, "seed": 0, "progress": False}}),
              echo=None, command="tests/benchmarks/test_bench_serve.py")
    finally:
        torch.set_num_threads(threads)
    return run_dir / "bundle"


def test_short_run_writes_figures_and_targets(tiny_bundle, tmp_path):
    bench = load_bench()
    out = tmp_path / "serve.json"
    assert bench.main(["--bundle", str(tiny_bundle), "--seconds", "1", "--clients", "4", "--threads", "1",
                       "--max-batch", "4", "--batch-wait-ms", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["settings"]["max_batch"] == 4 and result["settings"]["batch_wait_ms"] == 1.0
    assert result["machine"]["server_torch_threads"] == 1
    runs = result["runs"]  # the bundle, then its export in onnxruntime (written beside the bundle, verified)
    assert [r["runtime"] for r in runs] == ["torch", "onnx"] and result["settings"]["runtimes"] == ["torch", "onnx"]
    assert (tiny_bundle.parent / "onnx" / "export.json").is_file()
    assert runs[1]["server_command"].startswith("rnnlab serve ") and " --runtime onnx " in runs[1]["server_command"]
    assert len(result["targets"]) == 5 * len(runs)
    for run in runs:
        assert run["task"] == "intent" and run["server_command"].endswith("--threads 1 --max-batch 4 --batch-wait-ms 1")
        assert run["name"] == f"{run['bundle']} [{run['runtime']}]" and run["parameters"] > 0
        f = run["figures"]
        assert f["errors"] == 0 and f["requests_ok"] > 0 and f["server_alive_after"] is True
        assert 0 < f["latency_ms"]["p50"] <= f["latency_ms"]["p99"] <= f["latency_ms"]["max"]
        mine = [t for t in result["targets"] if t["name"].startswith(run["name"] + ": ")]
        names = [t["name"].split(": ")[1] for t in mine]
        assert names == ["latency_p99_ms", "requests_per_s", "errors", "server_alive_after", "rss_growth_fraction"]
        by_name = {t["name"].split(": ")[1]: t for t in mine}
        assert (by_name["latency_p99_ms"]["target"], by_name["requests_per_s"]["target"]) == (100.0, 400.0)
        assert by_name["errors"]["met"] and by_name["latency_p99_ms"]["value"] == f["latency_ms"]["p99"]


def test_memory_figures_and_unmeasured_runs():
    bench = load_bench()
    samples = [(0.0, 100.0), (1.0, 150.0), (5.0, 160.0), (10.0, 165.0)]
    m = bench.memory_figures(samples, seconds=10)
    # the baseline is a tenth into the run (t >= 1 s), not the cold start
    assert (m["rss_mb_at_10pct"], m["rss_mb_end"], m["rss_mb_max"]) == (150.0, 165.0, 165.0)
    assert m["rss_growth_fraction"] == 0.1
    assert bench.memory_figures([], seconds=10)["rss_growth_fraction"] is None
    # a run with no answer at all misses its targets with finite values (the JSON's targets stay numbers)
    run = {"name": "b", "figures": {"latency_ms": {"p99": None}, "requests_per_s": 0.0, "errors": 5,
                                    "server_alive_after": False, "memory": {"rss_growth_fraction": None}}}
    targets = bench.targets({"runs": [run]})
    assert not any(t["met"] for t in targets) and all(t["value"] < float("inf") for t in targets)
