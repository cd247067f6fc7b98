"""benchmarks/cells.py --quick writes the JSON the full run writes (structure, not speed)."""
import importlib.util
import json
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "cells.py"


def test_quick_benchmark_writes_its_json(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_cells", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "cells.json"
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--threads", "1", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)  # the benchmark sets it for the whole process
    report = json.loads(out.read_text())
    assert report["command"].endswith(f"--quick --threads 1 --out {out}")
    assert report["machine"]["torch_threads"] == 1
    assert set(report["versions"]) == {"python", "torch", "rnnlab"}
    rows = report["results"]
    # every mode x dtype x pass of the one quick shape, each timing all three implementations
    assert {(r["mode"], r["dtype"], r["pass"]) for r in rows} == {
        (m, d, p) for m in bench.MODES for d in bench.DTYPES for p in ("forward", "forward_backward")}
    for r in rows:
        assert set(r["times"]) == {"torch", "fused", "glass"}
        for t in r["times"].values():
            assert t["median_ms"] > 0 and t["tokens_per_s"] > 0
            assert abs(t["tokens_per_s"] - r["T"] * r["B"] / (t["median_ms"] / 1e3)) < 0.01 * t["tokens_per_s"]
        assert r["glass_over_fused"] > 0 and r["fused_over_torch"] > 0
    assert set(report["call_overhead"]) == set(bench.MODES)
    for o in report["call_overhead"].values():
        assert o["torch_us"] > 0 and o["fused_us"] > 0
    assert set(report["targets"]) == {"fused_within_5pct_of_torch", "glass_forward_within_3x_of_fused",
                                      "glass_forward_backward_within_6x_of_fused"}
    for target in report["targets"].values():
        assert target["met"] == (not target["misses"])
