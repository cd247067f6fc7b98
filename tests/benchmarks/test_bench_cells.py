"""benchmarks/cells.py --quick writes the JSON the full run writes (structure, not speed)."""
import importlib.util
import json
from pathlib import Path

import torch

from rnnlab.precision import cpu_native_bf16

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "cells.py"


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
    machine = report["machine"]
    assert machine["threads"] == 1
    assert {"cpu", "cpu_capability", "native_bf16", "loadavg_before", "loadavg_after"} <= set(machine)
    assert machine["native_bf16"] == cpu_native_bf16()
    assert set(report["versions"]) == {"python", "torch", "rnnlab"}
    # bfloat16 only where the CPU runs it natively; elsewhere the JSON says why it was skipped
    dtypes = ["float32", "bfloat16"] if cpu_native_bf16() else ["float32"]
    assert report["dtypes"] == dtypes
    if cpu_native_bf16():
        assert report["skipped"] == {}
    else:
        assert set(report["skipped"]) == {"bfloat16"}
        assert report["skipped"]["bfloat16"].startswith("bfloat16 skipped: no native bf16 on this CPU")
    rows = report["results"]
    # every mode x measured dtype x pass of the one quick shape, each timing all three implementations
    assert {(r["mode"], r["dtype"], r["pass"]) for r in rows} == {
        (m, d, p) for m in bench.MODES for d in dtypes for p in ("forward", "forward_backward")}
    for r in rows:
        assert set(r["times"]) == {"torch", "fused", "glass", "native"}
        assert r["native_speedup"] > 0 and r["fastest_engine"] in ("fused", "glass", "native")
        for t in r["times"].values():
            assert t["median_ms"] > 0 and t["tokens_per_s"] > 0
            assert abs(t["tokens_per_s"] - r["T"] * r["B"] / (t["median_ms"] / 1e3)) < 0.01 * t["tokens_per_s"]
        assert r["glass_over_fused"] > 0 and r["fused_over_torch"] > 0
    assert set(report["call_overhead"]) == set(bench.MODES)
    for o in report["call_overhead"].values():
        assert o["torch_us"] > 0 and o["fused_us"] > 0
    names = {"fused_within_5pct_of_torch", "glass_forward_within_3x_of_fused",
             "glass_forward_backward_within_6x_of_fused"}
    details = report["target_details"]
    assert set(details) == names
    for detail in details.values():
        assert detail["met"] == (not detail["misses"])
    # the targets list: per target the worst row against its limit, met exactly when no row misses it
    assert [t["name"] for t in report["targets"]][:3] == list(details)
    for t in report["targets"][:3]:
        assert t["direction"] == "<=" and t["value"] == details[t["name"]]["worst"]
        assert t["target"] == details[t["name"]]["limit"] and t["met"] == details[t["name"]]["met"]
    # issue 25's: native's speed-up over torch.nn per mode (the worst shape), GRU / LSTM time
    speed = {t["name"]: t for t in report["targets"][3:]}
    assert set(speed) == {"native_gru_speedup_over_nn_GRU_fwd_bwd_fp32",
                          "native_rnn_tanh_speedup_over_nn_RNN_fwd_bwd_fp32",
                          "native_lstm_speedup_over_nn_LSTM_fwd_bwd_fp32", "gru_time_over_lstm_time_fwd_bwd_fp32"}
    fb = {(r["mode"], r["dtype"]): r for r in rows if r["pass"] == "forward_backward"}
    assert speed["native_gru_speedup_over_nn_GRU_fwd_bwd_fp32"]["value"] == fb[("gru", "float32")]["native_speedup"]
    assert speed["native_gru_speedup_over_nn_GRU_fwd_bwd_fp32"]["direction"] == ">="
    best = {m: min(fb[(m, "float32")]["times"][e]["median_ms"] for e in ("fused", "glass", "native"))
            for m in ("gru", "lstm")}
    ratio = speed["gru_time_over_lstm_time_fwd_bwd_fp32"]
    assert ratio["direction"] == "<=" and abs(ratio["value"] - best["gru"] / best["lstm"]) < 1e-3
    # efficiency: GFLOP/s of the fastest engine against this CPU's GEMM peak, per dtype and mode
    assert set(report["gemm_peak_gflops"]) == set(dtypes) and all(v > 0 for v in report["gemm_peak_gflops"].values())
    gru = fb[("gru", "float32")]
    T, B, I, H = gru["T"], gru["B"], gru["I"], gru["H"]
    assert gru["flops"] == 6 * T * B * (I + H) * 3 * H
    entry = report["efficiency"]["float32"]["gru"][f"{T}x{B}x{I}x{H}"]
    assert abs(entry["fraction_of_gemm_peak"] - entry["gflops"] / report["gemm_peak_gflops"]["float32"]) < 1e-3
    assert report["native_engine"]["built"] in (True, False)
    assert out.with_suffix(".png").stat().st_size > 1000


def test_bfloat16_is_skipped_without_native_bf16(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_cells", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "cpu_native_bf16", lambda: False)
    dtypes, skipped = bench.measured_dtypes()
    assert dtypes == ("float32",) and "no native bf16 on this CPU" in skipped["bfloat16"]
    monkeypatch.setattr(bench, "cpu_native_bf16", lambda: True)
    assert bench.measured_dtypes() == (("float32", "bfloat16"), {})
