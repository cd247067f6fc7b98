"""The native engine: rnnlab's own CPU recurrence, a C++ loop (native.cpp) between two large GEMMs.

Training an RNN costs a GEMM per step that cannot be batched over time (h_{t-1} W_hh^T needs h_{t-1}) and a
chain of small elementwise ops per gate. torch.nn's GRU and RNN on CPU run that chain op by op, and autograd
keeps T small weight-gradient GEMMs for the backward pass. This engine does per layer and direction:

    forward   xw = x W_ih^T + b                  one (T*B, I) x (I, G*H) GEMM for all T steps
              per step: gh = h_{t-1} W_hh^T      (B, H) x (H, G*H), then every gate in one fused pass (C++)
    backward  per step: the gates' gradients in one fused pass, dh_{t-1} = direct + dgh_t W_hh
              dW_hh = dgh^T hprev, dW_ih = dgx^T x, dx = dgx W_ih    one GEMM each, over all T steps

Parameters, inputs, outputs, states and gradients are torch.nn's (the parity tests run every engine against
torch.nn): every mode, layers, directions, dropout between layers, ragged lengths (a step past a sequence's
end holds the state and outputs zero, as the glass engine masks it), float32 and float64, on the CPU. Under
bf16 autocast the GEMMs run in bfloat16 (AMX or AVX512-BF16 where the CPU has them) and the recurrence (state,
gates) in float32, returning float32, as torch's GRU kernel does there.

The C++ part is compiled once per machine by `make install` (torch.utils.cpp_extension with this CPU's
instruction set, into the virtual environment; `main()` below builds it by hand). Where it cannot be built
(no compiler) or does not apply (a GPU tensor; float16 autocast), the layer runs the fused engine instead,
and says so once on stderr when the extension is missing. Double backward (create_graph=True) is not supported.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path

import torch
from torch import Tensor

from . import fused

SOURCE = Path(__file__).with_name("native.cpp")
MODE_CODES = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}  # native.cpp's enum Mode
# -fopenmp: at::parallel_for is inline OpenMP in torch's CPU builds, serial without it; at run time the extension
# shares torch's own libgomp.so.1 (loaded first, same soname). 512-bit vectors where AVX-512 is.
CFLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno", "-fopenmp"]
LDFLAGS = ["-fopenmp"]
_EMPTY = torch.empty(0)

_state: dict = {}  # "module": the loaded extension or None; "why": why not; "warned": said so already


def _cpu_flags() -> str:
    """This CPU's model and instruction-set flags: the build is for them (-march=native)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.processor() or platform.machine()


def build_key() -> str:
    """What a build depends on: the source, torch, Python, the compiler flags and this CPU."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), torch.__version__.encode(), sys.version.encode(),
                 " ".join(CFLAGS + LDFLAGS).encode(), _cpu_flags().encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def build_dir(key: str | None = None) -> Path:
    """Where the extension is built: $RNNLAB_NATIVE_DIR, or inside the Python environment (so `make clean`,
    which removes .venv, removes it too), in a folder named by `key` (build_key() when not given)."""
    root = os.environ.get("RNNLAB_NATIVE_DIR") or str(Path(sys.prefix) / "rnnlab-native")
    return Path(root) / (key or build_key())


def load(verbose: bool = False):
    """The compiled extension (built now if it is not yet), or None with the reason in `why()`."""
    if "module" in _state:
        return _state["module"]
    module, why = None, None
    if os.environ.get("RNNLAB_NATIVE", "1") == "0":
        why = "disabled by RNNLAB_NATIVE=0"
    else:
        try:
            from torch.utils import cpp_extension

            # ninja comes with rnnlab (a dependency) into the environment's bin/, which need not be on PATH
            bin_dir = str(Path(sys.executable).parent)
            if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
                os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
            key = build_key()  # reads the source and /proc/cpuinfo: once
            directory = build_dir(key)
            directory.mkdir(parents=True, exist_ok=True)
            if not any(directory.glob("*.so")):
                print(f"rnnlab: building the native engine for this CPU, once (about a minute; in {directory})",
                      file=sys.stderr, flush=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # cpp_extension's notes on compiler versions
                module = cpp_extension.load(name=f"rnnlab_native_{key}", sources=[str(SOURCE)],
                                            build_directory=str(directory), extra_cflags=CFLAGS,
                                            extra_ldflags=LDFLAGS, verbose=verbose)
        except Exception as error:  # no compiler, no ninja, a failed build: the fused engine stands in
            lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
            why = f"{type(error).__name__}: {lines[0] if lines else error!r}"[:300]
    if module is not None:
        _keep_freed_memory()
    _state["module"], _state["why"] = module, why
    return module


def _keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse instead of handing them back to the OS.

    A training step allocates its activations afresh (here T*B*G*H floats per layer, megabytes); by default glibc
    maps blocks that large with mmap and unmaps them on free, so every step first-touches new pages: measured on a
    2-core Xeon, a quarter of the time went to the kernel's page faults and step times doubled at random. With a
    1 GiB mmap threshold and no trimming the blocks stay in the heap (the process keeps its peak footprint, as
    with jemalloc or tcmalloc, which PyTorch's CPU guides advise). Process-wide: torch.nn's own ops gain too.
    RNNLAB_MALLOC=default leaves glibc as it is. Returns whether the settings were applied."""
    if os.environ.get("RNNLAB_MALLOC") == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False


def why() -> str | None:
    """Why the extension is not available (None when it is, or before `load` was tried)."""
    return _state.get("why")


def available() -> bool:
    return load() is not None


def _fallback(layer, x, state, lengths, reason: str | None):
    if reason and not _state.get("warned"):
        _state["warned"] = True
        print(f"rnnlab: the native engine is not built here ({reason}); running the fused engine instead",
              file=sys.stderr)
    return fused.run(layer, x, state, lengths)


# The modes where this engine beat torch's kernels in benchmarks/cells.py (forward+backward, float32, every shape:
# GRU 1.4-3.1x, tanh/relu RNN 1.3-2.5x on a 2-core Xeon with AMX) and so where "auto" runs it; the LSTM stays on
# torch's oneDNN kernel there (native 0.76-1.01x of it).
FASTER_THAN_TORCH = ("rnn_tanh", "rnn_relu", "gru")


def run_auto(layer, x: Tensor, state, lengths: Tensor | None):
    """The default engine: this one for the modes it runs faster (FASTER_THAN_TORCH) where it is built, torch's
    kernels (the fused engine) otherwise, without a word: nothing is missing, only slower."""
    if layer.mode in FASTER_THAN_TORCH and load() is not None:
        return run(layer, x, state, lengths)
    return fused.run(layer, x, state, lengths)


def run(layer, x: Tensor, state, lengths: Tensor | None):
    """x (T, B, I) or (B, T, I), state or None, lengths (B,) or None -> (output, final state), as torch.nn."""
    weight = layer.flat_weights()[0]
    if x.device.type != "cpu" or weight.dtype not in (torch.float32, torch.float64):
        return fused.run(layer, x, state, lengths)
    # Under bf16 autocast the GEMMs run in bfloat16 (as autocast runs torch's matmuls) and the recurrence (state,
    # gates) in float32, the output float32 as torch's GRU kernel returns it there; other autocast dtypes (fp16)
    # are torch's kernels' business
    autocast = torch.is_autocast_enabled("cpu")
    if autocast and torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return fused.run(layer, x, state, lengths)
    extension = load()
    if extension is None:
        return _fallback(layer, x, state, lengths, why())
    with torch.autocast("cpu", enabled=False):
        bf16 = autocast and weight.dtype == torch.float32
        return _run(extension, layer, x.to(weight.dtype), state, lengths, bf16=bf16)


def _run(extension, layer, x: Tensor, state, lengths: Tensor | None, bf16: bool = False):
    if layer.batch_first:
        x = x.transpose(0, 1)  # (T, B, I): the loop walks the time axis
    x = x.contiguous()
    B = x.shape[1]
    family = layer.family
    dtype = x.dtype
    parts = [p.to(dtype) for p in family.state_parts(layer.initial_state(x, state, B))]  # (L*D, B, H) each
    lstm = layer.mode == "lstm"
    code = MODE_CODES[layer.mode]
    lens = _EMPTY if lengths is None else lengths.to(device="cpu", dtype=torch.int64).contiguous()
    finals = []  # per layer and direction: (h_n,) or (h_n, c_n)
    layer_input = x  # (T, B, I) for layer 0, (T, B, D*H) after
    for index in range(layer.num_layers):
        outputs = []
        for direction in range(layer.num_directions):
            row = index * layer.num_directions + direction
            w_ih, w_hh, b_ih, b_hh = layer.direction_weights(index, direction)
            c0 = parts[1][row] if lstm else None
            out, h_n, c_n = _Direction.apply(layer_input, parts[0][row], c0, w_ih, w_hh, b_ih, b_hh,
                                             extension, code, bool(direction), lens, bf16)
            outputs.append(out)
            finals.append((h_n, c_n) if lstm else (h_n,))
        layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)  # (T, B, D*H)
        if layer.dropout and layer.training and index < layer.num_layers - 1:
            layer_input = torch.nn.functional.dropout(layer_input, layer.dropout, training=True)
    output = layer_input.transpose(0, 1) if layer.batch_first else layer_input
    final = family.state_from_parts(tuple(torch.stack(p) for p in zip(*finals)))  # (L*D, B, H) each
    return output, final


def _mm(a: Tensor, b: Tensor, bf16: bool) -> Tensor:
    """a @ b in float32, its products in bfloat16 when `bf16` (as autocast would run the matmul)."""
    if not bf16:
        return a @ b
    return (a.to(torch.bfloat16) @ b.to(torch.bfloat16)).float()


def _packed(weight: Tensor, rows: int) -> Tensor:
    """`weight` (N, K) packed for MKL's GEMM with `rows` rows on the left (float32 where torch has MKL), packed
    once and reused by every step of the loop; empty elsewhere, where the loop runs a plain GEMM. Below 2^18
    weights (1 MiB) the plain GEMM was faster (the packed call costs more than re-reading a small weight)."""
    if weight.dtype != torch.float32 or weight.numel() < 2**18 or not torch.backends.mkl.is_available():
        return _EMPTY
    return torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)


def _fold_bias(code: int, b_ih: Tensor | None, b_hh: Tensor | None, hidden: int):
    """(the bias added to xw, gru's b_hn or None): b_hh joins b_ih except gru's b_hn, which sits inside
    r * (W_hn h + b_hn)."""
    if b_ih is None:
        return None, None
    if code != MODE_CODES["gru"]:
        return b_ih + b_hh, None
    folded = torch.cat([b_ih[:2 * hidden] + b_hh[:2 * hidden], b_ih[2 * hidden:]])
    return folded, b_hh[2 * hidden:].contiguous()


class _Direction(torch.autograd.Function):
    """One layer, one direction: (x (T, B, I), h0 (B, H), c0, weights) -> (output (T, B, H), h_n, c_n)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, extension, code, reverse, lengths, bf16):
        T, B, I = x.shape
        G_H, H = w_hh.shape
        bias, b_hn = _fold_bias(code, b_ih, b_hh, H)
        x2 = x.reshape(T * B, I)
        xw = _mm(x2, w_ih.t(), bf16)  # (T*B, I) x (I, G*H): the input's share of every step, float32
        if bias is not None:
            xw += bias
        w_hh = w_hh.contiguous()
        # the step's GEMM in bf16 only where it is large enough to gain: below ~4 M multiply-adds the casts
        # to and from bf16 cost more than AMX saves (benchmarks/cells.py: 0.8 M slower, 6.3 M faster)
        step_bf16 = bf16 and B * G_H * H >= 2**22
        out, h_n, c_n, hprev, cprev, gates, extra = extension.forward(
            xw.view(T, B, G_H), h0.contiguous(), _EMPTY if c0 is None else c0.contiguous(), w_hh,
            _EMPTY if step_bf16 else _packed(w_hh, B), _EMPTY if b_hn is None else b_hn, lengths, code, reverse,
            step_bf16)
        ctx.save_for_backward(x2, w_ih, w_hh, out, hprev, cprev, gates, extra, lengths)
        ctx.code, ctx.reverse, ctx.has_bias, ctx.has_c = code, reverse, b_ih is not None, c0 is not None
        ctx.extension, ctx.bf16, ctx.step_bf16 = extension, bf16, step_bf16
        if c0 is None:
            ctx.mark_non_differentiable(c_n)
        return out, h_n, c_n

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        x2, w_ih, w_hh, out, hprev, cprev, gates, extra, lengths = ctx.saved_tensors
        T, B, H = hprev.shape
        G_H = w_hh.shape[0]
        dgx, dgh, dh0, dc0 = ctx.extension.backward(
            d_out, d_hn, d_cn if ctx.has_c else _EMPTY, out, hprev, cprev, gates, extra, w_hh,
            _EMPTY if ctx.step_bf16 else _packed(w_hh.t().contiguous(), B), lengths, ctx.code, ctx.reverse,
            ctx.step_bf16)
        dgx2, dgh2 = dgx.view(T * B, G_H), dgh.view(T * B, G_H)
        need = ctx.needs_input_grad  # (x, h0, c0, w_ih, w_hh, b_ih, b_hh, ...)
        bf16 = ctx.bf16
        dx = _mm(dgx2, w_ih, bf16).view(T, B, -1) if need[0] else None  # (T*B, G*H) x (G*H, I)
        dw_ih = _mm(dgx2.t(), x2, bf16) if need[3] else None  # (G*H, T*B) x (T*B, I): every step's share at once
        dw_hh = _mm(dgh2.t(), hprev.view(T * B, H), bf16) if need[4] else None  # (G*H, T*B) x (T*B, H)
        db_ih = dgx2.sum(0) if ctx.has_bias and need[5] else None
        db_hh = None
        if ctx.has_bias and need[6]:
            # rnn, lstm: b_ih and b_hh add to one pre-activation (dgh is dgx), so they share a gradient
            shared = ctx.code != MODE_CODES["gru"] and db_ih is not None
            db_hh = db_ih.clone() if shared else dgh2.sum(0)
        return (dx, dh0 if need[1] else None, dc0 if ctx.has_c and need[2] else None, dw_ih, dw_hh, db_ih, db_hh,
                None, None, None, None, None)


def main(argv=None) -> int:
    """Build the extension now (make install runs this; already built: it only loads it)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="build rnnlab's native recurrent engine for this machine")
    parser.add_argument("--verbose", action="store_true", help="show the compiler's commands")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if load(verbose=args.verbose) is None:  # load() says "building ..." when it builds
        print(f"rnnlab: the native engine could not be built ({why()}); the fused engine stands in for it")
        return 0  # not an install failure: every layer still runs
    print(f"rnnlab: native engine ready ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
