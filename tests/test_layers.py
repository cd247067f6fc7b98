"""Recurrent: every engine (fused, glass, native) == torch.nn (outputs, final states, gradients), traces, interop,
autocast."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.testing import assert_close

from rnnlab import Recurrent
from rnnlab.engines import ENGINES
from rnnlab.precision import cpu_capability, cpu_model, cpu_native_bf16

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
T, B, I, H = 6, 4, 3, 5
RAGGED = [6, 2, 5, 1]  # unsorted on purpose: packing must sort and unsort
ENGINE_NAMES = list(ENGINES)  # every engine of the table: fused, glass, native
TOL = {torch.float32: {"atol": 1e-5, "rtol": 1e-5}, torch.float64: {"atol": 1e-10, "rtol": 1e-10}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny tensors, 1 thread


def torch_module(mode, **kw):
    if mode == "lstm":
        return nn.LSTM(I, H, **kw)
    if mode == "gru":
        return nn.GRU(I, H, **kw)
    return nn.RNN(I, H, nonlinearity=mode[4:], **kw)


def run_torch(module, x, state, lengths, batch_first):
    """torch.nn as its users run it on ragged batches: pack, run, pad back."""
    if lengths is None:
        return module(x, state)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, state = module(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return out, state


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def make_case(mode, num_layers, bidirectional, batch_first, dtype, given_state, seed=0):
    torch.manual_seed(seed)
    layer = Recurrent(mode, I, H, num_layers, bidirectional=bidirectional, batch_first=batch_first).to(dtype)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=dtype, requires_grad=True)
    state = None
    if given_state:
        shape = (num_layers * (2 if bidirectional else 1), B, H)
        h0 = torch.randn(shape, dtype=dtype, requires_grad=True)
        state = (h0, torch.randn(shape, dtype=dtype, requires_grad=True)) if mode == "lstm" else h0
    return layer, x, state


def outputs_and_grads(fn, x, state, params):
    """Run fn, then differentiate a random projection of (output, final state) w.r.t. everything."""
    out, final = fn()
    g = torch.Generator().manual_seed(7)
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in [out, *flat(final)])
    inputs = [x, *(flat(state) if state is not None else []), *params]
    return [out, *flat(final)], torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["TB", "BT"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_glass_fused_and_torch_agree(mode, num_layers, bidirectional, batch_first, ragged, dtype):
    # ragged batches also get a given initial state (it must follow the sort/unsort of packing);
    # full ones start from zeros.
    layer, x, state = make_case(mode, num_layers, bidirectional, batch_first, dtype, given_state=ragged)
    lengths = RAGGED if ragged else None
    reference = torch_module(mode, num_layers=num_layers, bidirectional=bidirectional,
                             batch_first=batch_first).to(dtype)
    reference.load_state_dict(layer.state_dict())  # same names: loads strictly
    ref_values, ref_grads = outputs_and_grads(lambda: run_torch(reference, x, state, lengths, batch_first),
                                              x, state, list(reference.parameters()))
    for engine in ENGINE_NAMES:
        layer.engine = engine
        values, grads = outputs_and_grads(lambda: layer(x, state, lengths=lengths), x, state,
                                          list(layer.parameters()))
        for a, b in zip(values, ref_values):
            assert a.shape == b.shape
            assert_close(a, b, **TOL[dtype], msg=lambda m, engine=engine: f"{engine} value: {m}")
        for a, b in zip(grads, ref_grads):
            assert_close(a, b, **TOL[dtype], msg=lambda m, engine=engine: f"{engine} gradient: {m}")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_ragged_sequences_are_each_run_alone(mode, engine):
    """Each sequence of a padded batch gets exactly what it gets alone: zeros past its end, its own
    final state (forward: at its last step; backward: after starting from its last step)."""
    layer, x, _ = make_case(mode, 2, True, False, torch.float64, given_state=False)
    layer.engine = engine
    out, final = layer(x, lengths=RAGGED)
    for b, n in enumerate(RAGGED):
        alone_out, alone_final = layer(x[:n, b:b + 1])
        assert_close(out[:n, b:b + 1], alone_out)
        assert torch.all(out[n:, b] == 0)
        for s, s_alone in zip(flat(final), flat(alone_final)):
            assert_close(s[:, b:b + 1], s_alone)


@settings(max_examples=20, deadline=None)
@given(mode=st.sampled_from(MODES), lengths=st.lists(st.integers(1, T), min_size=1, max_size=B),
       batch_first=st.booleans())
def test_random_lengths_glass_equals_fused(mode, lengths, batch_first):
    torch.manual_seed(0)
    layer = Recurrent(mode, I, H, 2, bidirectional=True, batch_first=batch_first).double()
    x = torch.randn((len(lengths), T, I) if batch_first else (T, len(lengths), I), dtype=torch.float64)
    fused = layer(x, lengths=lengths)
    layer.engine = "glass"
    glass = layer(x, lengths=lengths)
    for a, b in zip([fused[0], *flat(fused[1])], [glass[0], *flat(glass[1])]):
        assert_close(a, b)


def test_glass_layer_gradcheck_float64():
    torch.manual_seed(0)
    layer = Recurrent("lstm", 2, 3, 2, bidirectional=True, engine="glass").double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=[4, 2])[0], (x,))


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input_is_a_batch_of_one(mode, engine):
    layer, x, _ = make_case(mode, 2, True, False, torch.float64, given_state=False)
    layer.engine = engine
    out, final = layer(x[:, 0])
    batched_out, batched_final = layer(x[:, :1])
    assert_close(out, batched_out[:, 0])
    for s, s_batched in zip(flat(final), flat(batched_final)):
        assert_close(s, s_batched[:, 0])


# ---- traces ------------------------------------------------------------------------------------


def _previous(trace_h, t, reverse, lengths):
    """h_{t-1} in the direction of processing (zeros at each sequence's first processed step)."""
    prev = torch.zeros_like(trace_h[0])
    src = t + 1 if reverse else t - 1
    if 0 <= src < trace_h.shape[0]:
        prev = trace_h[src].clone()
    if reverse:  # the backward direction starts at each sequence's own last step, from zeros
        for b, n in enumerate(lengths):
            if t == n - 1:
                prev[b] = 0
    return prev


@pytest.mark.parametrize("mode", MODES)
def test_trace_satisfies_the_equations(mode):
    torch.manual_seed(0)
    layer = Recurrent(mode, I, H, 2, bidirectional=True, batch_first=True).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    with torch.no_grad():
        trace = layer.trace(x, lengths=RAGGED)
        out, final = layer(x, lengths=RAGGED)
    assert_close(trace["output"], out)
    assert_close(trace["h_n"], flat(final)[0])
    # the last layer's h, both directions side by side, is the output
    assert_close(torch.cat([trace["l1.h"], trace["l1_reverse.h"]], dim=2), out)
    layer_input = {0: x.transpose(0, 1),  # (T, B, I)
                   1: torch.cat([trace["l0.h"], trace["l0_reverse.h"]], dim=2).transpose(0, 1)}
    for key, reverse, layer_index in [("l0", False, 0), ("l0_reverse", True, 0),
                                      ("l1", False, 1), ("l1_reverse", True, 1)]:
        tr = {k.split(".", 1)[1]: v.transpose(0, 1) for k, v in trace.items() if k.startswith(key + ".")}
        assert all(v.shape == (T, B, H) for v in tr.values())
        W, U = getattr(layer, "weight_ih_" + key), getattr(layer, "weight_hh_" + key)
        b_i, b_h = getattr(layer, "bias_ih_" + key), getattr(layer, "bias_hh_" + key)
        for t in range(T):
            inside = torch.tensor([t < n for n in RAGGED])
            if not inside.any():
                continue
            xt, h_prev = layer_input[layer_index][t], _previous(tr["h"], t, reverse, RAGGED)
            gx, gh = xt @ W.T + b_i, h_prev @ U.T + b_h
            got = {k: v[t][inside] for k, v in tr.items()}
            if mode == "lstm":
                i, f, g, o = (gx + gh).chunk(4, dim=1)
                c_prev = _previous(tr["c"], t, reverse, RAGGED)
                assert_close(got["in_gate"], torch.sigmoid(i)[inside])
                assert_close(got["forget_gate"], torch.sigmoid(f)[inside])
                assert_close(got["cell_candidate"], torch.tanh(g)[inside])
                assert_close(got["out_gate"], torch.sigmoid(o)[inside])
                # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t ;  h_t = o_t ⊙ tanh(c_t)
                assert_close(got["c"], got["forget_gate"] * c_prev[inside] + got["in_gate"] * got["cell_candidate"])
                assert_close(got["h"], got["out_gate"] * torch.tanh(got["c"]))
            elif mode == "gru":
                xr, xz, xn = gx.chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                assert_close(got["reset_gate"], torch.sigmoid(xr + hr)[inside])
                assert_close(got["update_gate"], torch.sigmoid(xz + hz)[inside])
                assert_close(got["candidate"], torch.tanh(xn[inside] + got["reset_gate"] * hn[inside]))
                z, n = got["update_gate"], got["candidate"]
                assert_close(got["h"], (1 - z) * n + z * h_prev[inside])
            else:
                act = torch.tanh if mode == "rnn_tanh" else torch.relu
                assert_close(got["h"], act(gx + gh)[inside])
            for v in tr.values():  # every value past a sequence's end is zero
                assert torch.all(v[t][~inside] == 0)


# ---- interop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_with_torch(mode):
    torch.manual_seed(0)
    theirs = torch_module(mode, num_layers=2, bidirectional=True)
    ours = Recurrent(mode, I, H, 2, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())  # strict: every name matches
    x = torch.randn(T, B, I)
    for engine in ENGINE_NAMES:
        ours.engine = engine
        assert_close(ours(x)[0], theirs(x)[0], **TOL[torch.float32])
    back = torch_module(mode, num_layers=2, bidirectional=True)
    back.load_state_dict(ours.state_dict())
    assert_close(back(x)[0], theirs(x)[0])


def test_state_dict_names_are_torch_names():
    ours = Recurrent("lstm", I, H, 2, bidirectional=True)
    assert list(ours.state_dict()) == list(nn.LSTM(I, H, 2, bidirectional=True).state_dict())
    assert "bias_hh_l1_reverse" in ours.state_dict()
    no_bias = Recurrent("gru", I, H, 2, bias=False)
    assert list(no_bias.state_dict()) == list(nn.GRU(I, H, 2, bias=False).state_dict())


@pytest.mark.parametrize("mode", MODES)
def test_from_torch_and_to_torch_share_parameters(mode):
    torch.manual_seed(0)
    theirs = torch_module(mode, num_layers=2, bidirectional=True, batch_first=True)
    ours = Recurrent.from_torch(theirs)
    assert (ours.mode, ours.num_layers, ours.bidirectional, ours.batch_first) == (mode, 2, True, True)
    for name, p in theirs.named_parameters():
        assert getattr(ours, name) is p
    back = ours.to_torch()
    assert type(back) is type(theirs)
    for name, p in back.named_parameters():
        assert getattr(ours, name) is p
    x = torch.randn(B, T, I)
    with torch.no_grad():
        theirs.weight_hh_l1_reverse.mul_(0.5)  # an in-place change shows through all three
    for engine in ENGINE_NAMES:
        ours.engine = engine
        assert_close(ours(x)[0], theirs(x)[0], **TOL[torch.float32])
        assert_close(back(x)[0], theirs(x)[0], **TOL[torch.float32])


def test_replacing_a_parameter_is_seen_by_the_fused_engine():
    torch.manual_seed(0)
    layer = Recurrent("lstm", I, H)
    x = torch.randn(T, B, I)
    before = layer(x)[0]
    layer.weight_hh_l0 = nn.Parameter(torch.zeros(4 * H, H))
    after = layer(x)[0]
    layer.engine = "glass"
    assert_close(after, layer(x)[0], **TOL[torch.float32])
    assert (after - before).abs().max() > 1e-3


def test_engine_is_a_switchable_attribute():
    layer = Recurrent("gru", I, H, engine="glass")
    assert layer.engine == "glass"
    layer.engine = "fused"
    assert layer.engine == "fused"
    with pytest.raises(ValueError, match="engine"):
        layer.engine = "cudnn"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mode"):
        Recurrent("transformer", I, H)
    layer = Recurrent("lstm", I, H)
    x = torch.randn(T, B, I)
    for engine in ENGINE_NAMES:
        layer.engine = engine
        with pytest.raises(ValueError, match="lengths"):
            layer(x, lengths=[T + 1] * B)
        with pytest.raises(ValueError, match="lengths"):
            layer(x, lengths=[T] * (B + 1))
        with pytest.raises(ValueError, match="state"):
            layer(x, (torch.zeros(1, B + 1, H), torch.zeros(1, B + 1, H)))


@pytest.mark.parametrize("mode", MODES)
def test_dropout_between_layers(mode):
    torch.manual_seed(0)
    layer = Recurrent(mode, I, H, 2, dropout=0.5).train()
    # p=1 zeroes layer 1's input: deterministic. The constructor refuses it (useless for training), so
    # it is set on the attribute, which both engines read on every call
    layer.dropout = 1.0
    top = Recurrent(mode, H, H)  # layer 1 alone (shares its parameters), to be fed those zeros
    for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
        setattr(top, name + "_l0", getattr(layer, name + "_l1"))
    x = torch.randn(T, B, I)
    expected = top(torch.zeros(T, B, H))[0]
    for engine in ENGINE_NAMES:
        layer.engine = engine
        assert_close(layer(x)[0], expected, **TOL[torch.float32])
    layer.eval()  # no dropout in eval: both engines agree with torch.nn and differ from the above
    reference = torch_module(mode, num_layers=2).eval()
    reference.load_state_dict(layer.state_dict())
    for engine in ENGINE_NAMES:
        layer.engine = engine
        assert_close(layer(x)[0], reference(x)[0], **TOL[torch.float32])
    assert (layer(x)[0] - expected).abs().max() > 1e-4
    half = Recurrent(mode, I, H, 2, dropout=0.5, engine="glass").train()
    assert (half(x)[0] - half(x)[0]).abs().max() > 0  # fresh random masks each call in training


# ---- autocast ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_bf16_autocast_runs_and_is_close_to_fp32(mode, engine, ragged):
    if mode == "lstm" and engine in ("fused", "native") and not cpu_native_bf16():  # native: fused's under autocast
        pytest.skip(f"oneDNN has no bf16 LSTM without native bf16 (this CPU: {cpu_model()}, {cpu_capability()}); "
                    "rnnlab's precision=auto runs fp32 here (tests/test_precision.py)")
    layer, x, _ = make_case(mode, 2, True, False, torch.float32, given_state=False)
    lengths = RAGGED if ragged else None
    layer.engine = engine
    reference, _ = layer(x, lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, final = layer(x, lengths=lengths)
    assert out.dtype in (torch.bfloat16, torch.float32)
    assert_close(out.float(), reference, atol=3e-2, rtol=0)
    out.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


def test_dtype_conversion_and_deepcopy_keep_the_fused_weights_in_step():
    import copy
    torch.manual_seed(0)
    layer = Recurrent("lstm", I, H, 2, bidirectional=True)
    x = torch.randn(T, B, I)
    before = layer(x)[0]  # builds the cached weight list
    twin = copy.deepcopy(layer)
    assert twin.flat_weights()[0] is twin.weight_ih_l0 is not layer.weight_ih_l0
    assert_close(twin(x)[0], before)
    layer.double()
    out = layer(x.double())[0]
    assert out.dtype == torch.float64
    assert_close(out, before.double(), **TOL[torch.float32])
