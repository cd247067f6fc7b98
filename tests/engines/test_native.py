"""The native engine (C++ recurrence): gradients by finite differences, saturated gates, threads, the fallback.

Parity with torch.nn for every mode, layer count, direction, layout, ragged lengths and dtype is in
tests/test_layers.py, which runs every engine of the table.
"""
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnlab import Recurrent
from rnnlab.cells import FAMILIES
from rnnlab.engines import native

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]

needs_build = pytest.mark.skipif(not native.available(), reason=f"the native engine is not built here: {native.why()}")


def reference(mode, *args, **kw):
    family = FAMILIES[mode]
    return family.torch_class(*args, **family.torch_kwargs, **kw)


@needs_build
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_float64_with_lengths_and_both_directions(mode):
    torch.manual_seed(0)
    layer = Recurrent(mode, 3, 4, 2, bidirectional=True, engine="native").double()
    x = torch.randn(5, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, 4, dtype=torch.float64, requires_grad=True)
    state = (h0, torch.randn(4, 3, 4, dtype=torch.float64, requires_grad=True)) if mode == "lstm" else h0
    inputs = (x, *(state if mode == "lstm" else (state,)))

    def fn(x, *state):
        out, final = layer(x, state if mode == "lstm" else state[0], lengths=[5, 2, 4])
        return (out, *final) if mode == "lstm" else (out, final)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradcheck(lambda *w: torch.func.functional_call(
        layer, dict(zip([n for n, _ in layer.named_parameters()], w)), (x,))[0], tuple(layer.parameters()))


@needs_build
@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])  # relu does not saturate: it explodes (1e13 here)
def test_float32_matches_torch_where_gates_saturate(mode):
    """Large pre-activations (|x| up to ~60): the vectorised exp's clamps and tanh's tails, at fp32's precision."""
    torch.manual_seed(1)
    ref = reference(mode, 16, 32)
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(8.0)
    layer = Recurrent.from_torch(ref, engine="native")
    x = torch.randn(30, 8, 16) * 4
    x.requires_grad_(True)
    out, _ = layer(x)
    expected, _ = ref(x)
    assert_close(out, expected, atol=1e-5, rtol=1e-5)
    g_ours = torch.autograd.grad(out.sum(), [x, *ref.parameters()])
    g_ref = torch.autograd.grad(expected.sum(), [x, *ref.parameters()])
    for a, b in zip(g_ours, g_ref):
        # gradients sum over 240 steps x batch: relative to their size
        assert_close(a, b, atol=1e-4 * float(b.abs().max()) + 1e-6, rtol=1e-4)


@needs_build
@pytest.mark.parametrize("threads", [1, 2])
def test_threads_do_not_change_the_result(threads):
    torch.manual_seed(2)
    layer = Recurrent("gru", 24, 300, engine="native")  # 300 units: rows are split between threads
    x = torch.randn(7, 64, 24)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = layer(x)
        torch.set_num_threads(threads)
        other, _ = layer(x)
    finally:
        torch.set_num_threads(before)
    assert_close(one, other, atol=1e-6, rtol=1e-6)


@needs_build
def test_no_bias_and_parameters_without_grad():
    torch.manual_seed(3)
    ref = nn.GRU(5, 6, 2, bias=False)
    layer = Recurrent.from_torch(ref, engine="native")
    ref.weight_ih_l0.requires_grad_(False)
    x = torch.randn(4, 2, 5, requires_grad=True)
    wrt = [x, *(p for p in ref.parameters() if p.requires_grad)]
    ours = torch.autograd.grad(layer(x)[0].sum(), wrt)
    theirs = torch.autograd.grad(ref(x)[0].sum(), wrt)
    for a, b in zip(ours, theirs):
        assert_close(a, b, atol=1e-5, rtol=1e-5)


@needs_build
@pytest.mark.parametrize("mode", MODES)
def test_bf16_autocast_runs_the_gemms_in_bf16_and_returns_float32(mode):
    torch.manual_seed(4)
    ref = reference(mode, 5, 6, num_layers=2, bidirectional=True)
    layer = Recurrent.from_torch(ref, engine="native")
    x = torch.randn(7, 3, 5, requires_grad=True)
    fp32, _ = layer(x, lengths=[7, 4, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, final = layer(x, lengths=[7, 4, 2])
    assert ours.dtype == torch.float32  # the recurrence stays float32, as torch's GRU returns it under autocast
    assert 0 < (ours - fp32).abs().max() < 3e-2  # bf16 products: close to float32, not equal to it
    assert torch.all(ours[4:, 1] == 0) and torch.all(ours[2:, 2] == 0)  # lengths still hold
    grads = torch.autograd.grad(ours.sum(), [x, *ref.parameters()])
    grads_fp32 = torch.autograd.grad(fp32.sum(), [x, *ref.parameters()])
    for g, g32 in zip(grads, grads_fp32):
        assert g.dtype == torch.float32 and torch.isfinite(g).all()
        assert (g - g32).abs().max() <= 5e-2 * g32.abs().max() + 1e-3


def test_without_the_extension_the_fused_engine_stands_in_and_says_so_once(tmp_path):
    """A machine where the C++ part cannot be built (here: no compiler) still runs every layer."""
    script = (
        "import torch\n"
        "from rnnlab import Recurrent\n"
        "from rnnlab.engines import native\n"
        "torch.manual_seed(0)\n"
        "layer = Recurrent('gru', 3, 4, engine='native')\n"
        "x = torch.randn(5, 2, 3)\n"
        "a = layer(x)[0]; layer(x)\n"
        "layer.engine = 'fused'\n"
        "assert torch.equal(a, layer(x)[0])\n"
        "assert native.why() is not None\n"
        "print('ran')\n")
    env = {**os.environ, "CXX": str(tmp_path / "no-compiler"), "RNNLAB_NATIVE_DIR": str(tmp_path / "build"),
           "RNNLAB_NATIVE": "1", "OMP_NUM_THREADS": "1"}  # a build is tried (even where the suite runs without one)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran"
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("rnnlab:")]
    assert "building the native engine for this CPU" in lines[0]  # the attempt is said before it is made
    fallback = [ln for ln in lines if "not built here" in ln]
    assert len(fallback) == 1 and "running the fused engine instead" in fallback[0]  # once, not once a call


def test_auto_runs_native_where_faster_and_fused_elsewhere(monkeypatch):
    calls = []
    monkeypatch.setattr(native, "run", lambda *a: calls.append("native") or native.fused.run(*a))
    monkeypatch.setattr(native.fused, "run", lambda *a, _run=native.fused.run: calls.append("fused") or _run(*a))
    x = torch.randn(3, 2, 4)
    for mode in MODES:
        calls.clear()
        Recurrent(mode, 4, 5)(x)  # the default engine is "auto"
        if native.available():
            expected = ["native", "fused"] if mode in native.FASTER_THAN_TORCH else ["fused"]
        else:
            expected = ["fused"]
        assert calls == expected, mode


def test_the_build_key_follows_the_source_and_the_cpu(monkeypatch):
    key = native.build_key()
    assert len(key) == 16 and key == native.build_key()
    monkeypatch.setattr(native, "_cpu_flags", lambda: "model name: another CPU")
    assert native.build_key() != key
