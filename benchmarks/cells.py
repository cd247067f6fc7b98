"""Benchmark: rnnlab.Recurrent's engines (fused, glass, native) against torch.nn, per mode and shape.

    python benchmarks/cells.py                  # full run -> benchmarks/results/cells.json
    python benchmarks/cells.py --quick --out /tmp/cells.json   # seconds: tiny shape, one repetition

For each mode (rnn_tanh, rnn_relu, lstm, gru), shape (T, B, I, H) and dtype (float32, and bfloat16
under torch.autocast("cpu") where the CPU runs bf16 natively: AMX or AVX512-BF16; elsewhere oneDNN has no
bf16 LSTM and emulates bf16 matmuls, so the bfloat16 rows are skipped and the JSON says why) it times,
for torch.nn and each engine of the table (fused, glass, native) over the same parameters (one layer,
unidirectional, batch_first=False):

- "forward": output and state under torch.no_grad() (inference);
- "forward_backward": forward, then gradients of output.sum() w.r.t. the input and all parameters.

Method: torch threads fixed (default 2); each callable runs twice to warm up; then `reps`
repetitions in which the three implementations run interleaved (the order rotating each
repetition, so none always runs first or on a freshly warmed cache); we report the median and
the minimum of the repetitions, tokens/s = T*B / median, and the ratios fused/torch and
glass/fused as the median over repetitions of the ratio within a repetition (the runs of one
repetition follow each other, so they share the machine's load), beside the ratios of medians
and of minima (process CPU time is recorded beside the wall time, as a hint of
how much other processes got in the way). Targets (from issue 2): fused within 5 % of torch.nn; glass forward
within 3x of fused; glass forward+backward within 6x -- the JSON's `targets` list holds the worst row of
each against its limit, `target_details` the rows that miss it. Targets of issue 25, forward+backward in
float32, the worst of the shapes: native GRU >= 1.5x nn.GRU (speed-up = torch's time / native's, paired per
repetition), native tanh RNN >= 1.3x nn.RNN, native LSTM >= 1.0x nn.LSTM, and rnnlab's GRU time <= 0.8x
rnnlab's LSTM time at the same shape (each cell on its fastest engine of the run).
Efficiency: FLOPs = 6 T B (I + H) G H for forward+backward (2 T B (I + H) G H forward: the input's and the
state's GEMMs; backward twice that), as GFLOP/s of the fastest implementation and as a fraction of this
CPU's own GEMM peak (a 2048^3 matmul, same threads, per dtype), reported per mode.
The machine (CPU model, torch's CPU capability, native bf16, threads) and its load average before and after
are recorded: other processes inflate the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import rnnlab  # noqa: E402
from rnnlab import Recurrent  # noqa: E402
from rnnlab.cells import CELL_NAMES, FAMILIES  # noqa: E402
from rnnlab.engines import native  # noqa: E402
from rnnlab.precision import cpu_capability, cpu_model, cpu_native_bf16  # noqa: E402

MODES = CELL_NAMES  # ("rnn_tanh", "rnn_relu", "lstm", "gru")
SHAPES = ((100, 32, 128, 256), (200, 16, 64, 128), (50, 64, 512, 512))  # (T, B, I, H)
QUICK_SHAPES = ((20, 4, 8, 16),)
DTYPES = ("float32", "bfloat16")
IMPLS = ("torch", "fused", "glass", "native")
ENGINES = IMPLS[1:]  # rnnlab's
TARGETS = {"fused_over_torch": 1.05, "glass_over_fused_forward": 3.0, "glass_over_fused_forward_backward": 6.0}
# issue 25: native's speed-up over torch.nn, forward+backward float32 (the worst shape), and GRU / LSTM time
SPEEDUP_TARGETS = {"gru": 1.5, "rnn_tanh": 1.3, "lstm": 1.0}
GRU_OVER_LSTM = 0.8


def measured_dtypes() -> tuple[tuple[str, ...], dict[str, str]]:
    """The dtypes this CPU is measured in, and {dtype: why} for those skipped: bfloat16 only where the
    CPU runs it natively (elsewhere nn.LSTM under bf16 autocast fails in oneDNN, and the bf16 matmuls of
    the other cells are emulated: a figure of nothing anyone would run)."""
    if cpu_native_bf16():
        return DTYPES, {}
    return tuple(d for d in DTYPES if d != "bfloat16"), {
        "bfloat16": f"bfloat16 skipped: no native bf16 on this CPU ({cpu_model()}, {cpu_capability()}): "
                    "oneDNN has no bf16 LSTM here and bf16 matmuls are emulated"}


def torch_module(mode: str, input_size: int, hidden_size: int) -> nn.Module:
    family = FAMILIES[mode]
    return family.torch_class(input_size, hidden_size, **family.torch_kwargs)


def make_callables(mode: str, shape: tuple[int, int, int, int], dtype: str) -> dict:
    """{(impl, pass): zero-argument callable} over one set of parameters."""
    T, B, I, H = shape
    torch.manual_seed(0)
    reference = torch_module(mode, I, H)
    modules = {"torch": reference}
    for engine in ENGINES:
        modules[engine] = Recurrent.from_torch(reference, engine=engine)  # shares the parameters
    x = torch.randn(T, B, I, requires_grad=True)
    wrt = [x, *reference.parameters()]
    autocast = dtype == "bfloat16"

    def forward(module):
        def run():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                return module(x)
        return run

    def forward_backward(module):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                output, _ = module(x)
            # autograd.grad, not .backward(): nothing accumulates between repetitions
            return torch.autograd.grad(output.sum(), wrt)
        return run

    calls = {}
    for impl, module in modules.items():
        calls[(impl, "forward")] = forward(module)
        calls[(impl, "forward_backward")] = forward_backward(module)
    return calls


def time_interleaved(calls: dict, reps: int, warmup: int) -> tuple[dict, dict]:
    """Wall and process-CPU seconds per call of each callable: warm-up, then `reps` interleaved
    rounds in rotating order."""
    keys = list(calls)
    for _ in range(warmup):
        for key in keys:
            calls[key]()
    wall, cpu = {key: [] for key in keys}, {key: [] for key in keys}
    for rep in range(reps):
        order = keys[rep % len(keys):] + keys[:rep % len(keys)]
        for key in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            calls[key]()
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    return wall, cpu


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def paired_ratio(wall: dict, which: str, a: str, b: str) -> float:
    """Median over repetitions of a/b within the repetition: the two ran back to back,
    under the same load, so the ratio cancels most of what other processes do."""
    return round(statistics.median(x / y for x, y in zip(wall[(a, which)], wall[(b, which)])), 3)


def run(shapes, reps: int, warmup: int, threads: int, progress=print, dtypes=DTYPES) -> dict:
    torch.set_num_threads(threads)
    results = []
    for shape in shapes:
        T, B, I, H = shape
        for mode in MODES:
            for dtype in dtypes:
                started = time.perf_counter()
                calls = make_callables(mode, shape, dtype)
                # one pass at a time, so that a slow glass backward never sits between two forwards
                for which in ("forward", "forward_backward"):
                    wall, cpu = time_interleaved({k: v for k, v in calls.items() if k[1] == which}, reps, warmup)
                    times = {}
                    flops = flop_count(mode, shape, which)
                    for impl in IMPLS:
                        s = wall[(impl, which)]
                        median = statistics.median(s)
                        times[impl] = {"median_ms": round(median * 1e3, 3), "min_ms": round(min(s) * 1e3, 3),
                                       "cpu_median_ms": round(statistics.median(cpu[(impl, which)]) * 1e3, 3),
                                       "tokens_per_s": round(T * B / median, 1),
                                       "gflops": round(flops / median / 1e9, 2)}
                    fastest = min(ENGINES, key=lambda e: times[e]["median_ms"])
                    results.append({
                        "mode": mode, "T": T, "B": B, "I": I, "H": H, "dtype": dtype, "pass": which,
                        "times": times,
                        "fused_over_torch": paired_ratio(wall, which, "fused", "torch"),
                        "glass_over_fused": paired_ratio(wall, which, "glass", "fused"),
                        # the ratios of the medians, and of the fastest repetitions
                        "fused_over_torch_of_medians":
                            round(times["fused"]["median_ms"] / times["torch"]["median_ms"], 3),
                        "glass_over_fused_of_medians":
                            round(times["glass"]["median_ms"] / times["fused"]["median_ms"], 3),
                        "fused_over_torch_min": round(times["fused"]["min_ms"] / times["torch"]["min_ms"], 3),
                        "glass_over_fused_min": round(times["glass"]["min_ms"] / times["fused"]["min_ms"], 3),
                        # issue 25: how much faster the native engine is than torch.nn (> 1: faster)
                        "native_speedup": round(1 / paired_ratio(wall, which, "native", "torch"), 3),
                        "fastest_engine": fastest, "flops": flops,
                    })
                progress(f"{mode:8s} {shape} {dtype:8s} "
                         + "  ".join(f"{r['pass']}: fused/torch {r['fused_over_torch']:.3f} "
                                     f"glass/fused {r['glass_over_fused']:.2f} "
                                     f"native x{r['native_speedup']:.2f}" for r in results[-2:])
                         + f"  ({time.perf_counter() - started:.1f}s)")
    details = check_targets(results)
    peak = gemm_peak(dtypes, size=256 if shapes == QUICK_SHAPES else 2048)
    speed = speed_targets(results, peak)
    return {"results": results, "call_overhead": call_overhead(reps, calls=200 if len(shapes) == 1 else 2000),
            "gemm_peak_gflops": peak, "efficiency": speed["efficiency"], "gru_over_lstm": speed["gru_over_lstm"],
            "native_speedups": speed["speedups"],
            "targets": targets_list(details) + speed["targets"], "target_details": details}


def flop_count(mode: str, shape: tuple[int, int, int, int], which: str) -> int:
    """The GEMM FLOPs of one layer: 2 T B (I + H) G H forward; backward twice the forward's (the inputs'
    and the weights' gradients), so 6 T B (I + H) G H for forward+backward. Elementwise work not counted."""
    T, B, I, H = shape
    forward = 2 * T * B * (I + H) * FAMILIES[mode].gate_count * H
    return forward if which == "forward" else 3 * forward


def gemm_peak(dtypes, size: int = 2048, reps: int = 5) -> dict[str, float]:
    """This CPU's GEMM GFLOP/s at the benchmark's threads: the best of `reps` (size x size) @ (size x size)."""
    peak = {}
    for dtype in dtypes:
        a = torch.randn(size, size, dtype=getattr(torch, dtype))
        b = torch.randn(size, size, dtype=getattr(torch, dtype))
        a @ b  # warm-up
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        peak[dtype] = round(2 * size ** 3 / best / 1e9, 1)
    return peak


def speed_targets(results: list[dict], peak: dict[str, float]) -> dict:
    """Issue 25's figures: native's speed-up per mode (worst shape), GRU / LSTM time, efficiency per mode."""
    fb = [r for r in results if r["pass"] == "forward_backward"]
    speedups, targets = {}, []
    for mode in MODES:
        rows = [r for r in fb if r["mode"] == mode and r["dtype"] == "float32"]
        speedups[mode] = {"worst": min(r["native_speedup"] for r in rows),
                          "per_shape": {f"{r['T']}x{r['B']}x{r['I']}x{r['H']}": r["native_speedup"] for r in rows}}
    for mode, limit in SPEEDUP_TARGETS.items():
        torch_name = FAMILIES[mode].torch_class.__name__
        targets.append(benchcommon.target(f"native_{mode}_speedup_over_nn_{torch_name}_fwd_bwd_fp32",
                                          speedups[mode]["worst"], limit, ">=",
                                          per_shape=speedups[mode]["per_shape"]))

    def best_ms(r):
        return min(r["times"][e]["median_ms"] for e in ENGINES)

    gru_over_lstm = {}
    for r in fb:
        if r["mode"] != "gru":
            continue
        lstm = next(x for x in fb if x["mode"] == "lstm" and (x["T"], x["B"], x["I"], x["H"], x["dtype"])
                    == (r["T"], r["B"], r["I"], r["H"], r["dtype"]))
        gru_over_lstm.setdefault(r["dtype"], {})[f"{r['T']}x{r['B']}x{r['I']}x{r['H']}"] = {
            "ratio": round(best_ms(r) / best_ms(lstm), 3), "gru_engine": r["fastest_engine"],
            "lstm_engine": lstm["fastest_engine"], "gru_ms": best_ms(r), "lstm_ms": best_ms(lstm)}
    worst = max(v["ratio"] for v in gru_over_lstm["float32"].values())
    targets.append(benchcommon.target("gru_time_over_lstm_time_fwd_bwd_fp32", worst, GRU_OVER_LSTM, "<=",
                                      per_shape={k: v["ratio"] for k, v in gru_over_lstm["float32"].items()}))
    efficiency = {}
    for r in fb:
        best = r["times"][r["fastest_engine"]]["gflops"]
        entry = efficiency.setdefault(r["dtype"], {}).setdefault(r["mode"], {})
        entry[f"{r['T']}x{r['B']}x{r['I']}x{r['H']}"] = {
            "engine": r["fastest_engine"], "gflops": best, "fraction_of_gemm_peak": round(best / peak[r["dtype"]], 3),
            "torch_gflops": r["times"]["torch"]["gflops"],
            "torch_fraction_of_gemm_peak": round(r["times"]["torch"]["gflops"] / peak[r["dtype"]], 3)}
    return {"speedups": speedups, "gru_over_lstm": gru_over_lstm, "efficiency": efficiency, "targets": targets}


def call_overhead(reps: int, calls: int) -> dict:
    """Microseconds per forward call at (T, B, I, H) = (1, 1, 8, 8), where the kernel costs next to
    nothing: the per-call Python work of torch.nn's forward and of the fused engine's.
    fused and torch run the same kernel, so this difference is all that separates them."""
    overhead = {}
    for mode in MODES:
        torch.manual_seed(0)
        reference = torch_module(mode, 8, 8)
        fused = Recurrent.from_torch(reference, engine="fused")
        x = torch.randn(1, 1, 8)

        def loop(module, x):
            def run():
                with torch.no_grad():
                    for _ in range(calls):
                        module(x)
            return run

        wall, _ = time_interleaved({"torch": loop(reference, x), "fused": loop(fused, x)}, reps, warmup=1)
        per_call = {impl: statistics.median(wall[impl]) / calls * 1e6 for impl in ("torch", "fused")}
        overhead[mode] = {"torch_us": round(per_call["torch"], 2), "fused_us": round(per_call["fused"], 2),
                          "fused_minus_torch_us": round(per_call["fused"] - per_call["torch"], 2)}
    return overhead


def check_targets(results: list[dict]) -> dict:
    """{target: verdict} with the worst row, the median over rows and every row that misses the limit."""
    def verdict(name, key, limit, rows):
        misses = [{"mode": r["mode"], "shape": [r["T"], r["B"], r["I"], r["H"]], "dtype": r["dtype"],
                   "pass": r["pass"], key: r[key]} for r in rows if r[key] > limit]
        worst = max(rows, key=lambda r: r[key])
        # the median over all rows: a systematic overhead moves it, load noise (either way) does not
        return {"limit": limit, "met": not misses, "worst": worst[key],
                "median_over_rows": round(statistics.median(r[key] for r in rows), 3),
                "worst_case": {"mode": worst["mode"], "shape": [worst["T"], worst["B"], worst["I"], worst["H"]],
                               "dtype": worst["dtype"], "pass": worst["pass"]},
                "misses": misses}

    forward = [r for r in results if r["pass"] == "forward"]
    backward = [r for r in results if r["pass"] == "forward_backward"]
    return {
        "fused_within_5pct_of_torch": verdict("fused", "fused_over_torch", TARGETS["fused_over_torch"], results),
        "glass_forward_within_3x_of_fused": verdict(
            "glass fwd", "glass_over_fused", TARGETS["glass_over_fused_forward"], forward),
        "glass_forward_backward_within_6x_of_fused": verdict(
            "glass fwd+bwd", "glass_over_fused", TARGETS["glass_over_fused_forward_backward"], backward),
    }


def targets_list(details: dict) -> list[dict]:
    """The `targets` list of the JSON: per target the worst row's ratio against its limit (met when no
    row misses it)."""
    return [benchcommon.target(name, d["worst"], d["limit"], "<=", median_over_rows=d["median_over_rows"],
                               worst_case=d["worst_case"]) for name, d in details.items()]


def plot(report: dict, path: Path) -> None:
    """Forward+backward time per mode and implementation, one panel per shape and dtype (lower is faster)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r["pass"] == "forward_backward"]
    panels = list(dict.fromkeys((r["T"], r["B"], r["I"], r["H"], r["dtype"]) for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    width = 0.8 / len(IMPLS)
    for ax, panel in zip(axes[0], panels):
        here = [r for r in rows if (r["T"], r["B"], r["I"], r["H"], r["dtype"]) == panel]
        for k, impl in enumerate(IMPLS):
            ax.bar([i + k * width for i in range(len(here))], [r["times"][impl]["median_ms"] for r in here],
                   width, label="torch.nn" if impl == "torch" else impl)
        ax.set_xticks([i + width * (len(IMPLS) - 1) / 2 for i in range(len(here))], [r["mode"] for r in here])
        ax.set_title(f"T,B,I,H = {','.join(map(str, panel[:4]))}  {panel[4]}", fontsize=9)
        ax.set_ylabel("forward+backward, ms (median)")
    axes[0][0].legend(fontsize=8)
    cpu = report["machine"].get("cpu") or "CPU"
    fig.suptitle(f"rnnlab engines vs torch.nn, {report['machine']['threads']} threads, {cpu}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shape, one repetition (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cells.json"))
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (default 9; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--note", default="", help="a remark stored in the JSON (e.g. why --threads differs)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 9)
    warmup = 1 if args.quick else 2
    shapes = QUICK_SHAPES if args.quick else SHAPES
    load_before = loadavg()
    started = time.perf_counter()
    dtypes, skipped = measured_dtypes()
    for why in skipped.values():
        print(why)
    report = run(shapes, reps, warmup, args.threads, dtypes=dtypes)
    report = {
        "command": (" ".join(["python", *sys.argv]) if argv is None
                    else " ".join(["python benchmarks/cells.py", *argv])),
        "machine": benchcommon.machine(torch.get_num_threads(), loadavg_before=load_before, loadavg_after=loadavg()),
        "note": args.note,
        "dtypes": list(dtypes), "skipped": skipped,
        "native_engine": {"built": native.available(), "why_not": native.why(), "cflags": native.CFLAGS},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "rnnlab": rnnlab.__version__},
        "method": {"reps": reps, "warmup": warmup,
                   "statistic": "median of interleaved repetitions; ratios: median of per-repetition ratios",
                   "forward": "torch.no_grad()", "forward_backward": "grad of output.sum() w.r.t. input and parameters",
                   "bfloat16": "torch.autocast('cpu', dtype=torch.bfloat16) over float32 parameters and input",
                   "layer": "1 layer, unidirectional, batch_first=False, no lengths",
                   "seconds": round(time.perf_counter() - started, 1)},
        **report,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, out.with_suffix(".png"))
    for mode, o in report["call_overhead"].items():
        print(f"call overhead {mode:8s}: torch.nn {o['torch_us']:.1f} us, fused {o['fused_us']:.1f} us")
    print(f"GEMM peak (GFLOP/s): {report['gemm_peak_gflops']}")
    for dtype, modes in report["efficiency"].items():
        for mode, shapes in modes.items():
            print(f"efficiency {dtype} {mode:8s}: " + ", ".join(
                f"{k} {v['engine']} {v['gflops']:.0f} GFLOP/s ({v['fraction_of_gemm_peak']:.0%}; torch.nn "
                f"{v['torch_fraction_of_gemm_peak']:.0%})" for k, v in shapes.items()))
    print(benchcommon.describe(report["targets"]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
