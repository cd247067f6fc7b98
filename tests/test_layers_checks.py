"""Recurrent and the cells refuse what their kernels cannot run, before the kernels see it.

The fused engine calls torch's _VF ops, which trust the sizes they are told: before these checks an
input with the wrong feature size read past the weights (different output on every call, NaN with
64 features). Every check is tried on every mode, engine and path (lengths or not, batch_first,
bidirectional, unbatched).
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab import GRUCell, LSTMCell, Recurrent, RNNCell

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny tensors, 1 thread

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
ENGINES = ["fused", "glass"]
T, B, I, H = 5, 3, 4, 6
LENGTHS = [5, 2, 4]


def layer_for(mode, engine, bidirectional=False, batch_first=False, num_layers=1):
    torch.manual_seed(0)
    return Recurrent(mode, I, H, num_layers, bidirectional=bidirectional, batch_first=batch_first, engine=engine)


def zeros_state(layer, batch=B, rows=None, hidden=H, dtype=torch.float32):
    shape = (rows if rows is not None else layer.num_layers * layer.num_directions, batch, hidden)
    h = torch.zeros(shape, dtype=dtype)
    return (h, h.clone()) if layer.mode == "lstm" else h


def batch_input(layer, features=I, steps=T, batch=B, dtype=torch.float32):
    shape = (batch, steps, features) if layer.batch_first else (steps, batch, features)
    return torch.randn(shape, dtype=dtype)


PATHS = [dict(bidirectional=bi, batch_first=bf, lengths=ln) for bi in (False, True) for bf in (False, True)
         for ln in (None, LENGTHS)]
PATH_IDS = [f"{'bi' if p['bidirectional'] else 'uni'}-{'bf' if p['batch_first'] else 'tf'}-"
            f"{'ragged' if p['lengths'] else 'full'}" for p in PATHS]


def test_the_reported_case_raises_instead_of_reading_past_the_weights():
    layer = Recurrent("lstm", 4, 8)
    with pytest.raises(ValueError, match="input_size: expected 4, got 7"):
        layer(torch.randn(5, 3, 7))
    with pytest.raises(ValueError, match="input_size"):
        layer(torch.randn(5, 3, 64))


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_wrong_feature_size_is_refused_on_every_path(mode, engine, path):
    layer = layer_for(mode, engine, path["bidirectional"], path["batch_first"])
    for features in (I - 1, I + 1, 64):
        with pytest.raises(ValueError, match=f"input_size: expected {I}, got {features}"):
            layer(batch_input(layer, features), lengths=path["lengths"])
    with pytest.raises(ValueError, match="input_size"):
        layer.trace(batch_input(layer, I + 1), lengths=path["lengths"])
    # the right size still runs, and twice gives the same output (no uninitialised memory read)
    x = batch_input(layer)
    torch.testing.assert_close(layer(x, lengths=path["lengths"])[0], layer(x, lengths=path["lengths"])[0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_wrong_dimensions_dtype_and_device_are_refused(mode, engine):
    layer = layer_for(mode, engine)
    with pytest.raises(ValueError, match="unbatched 2-D"):
        layer(torch.randn(I))  # 1-D
    with pytest.raises(ValueError, match="unbatched 2-D"):
        layer(torch.randn(2, T, B, I))  # 4-D
    with pytest.raises(ValueError, match="input_size"):
        layer(torch.randn(T, I + 2))  # unbatched, wrong features
    with pytest.raises(ValueError, match="3-D"):
        layer.trace(torch.randn(T, I))  # trace takes batches only
    with pytest.raises(TypeError, match="tensor"):
        layer([[0.0] * I] * T)
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.ones(T, B, I, dtype=torch.long))
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.randn(T, B, I, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.randn(T, B, I, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="meta"):
        layer(torch.empty(T, B, I, device="meta"))
    with pytest.raises(ValueError, match="no time steps"):
        layer(torch.randn(0, B, I))
    with pytest.raises(ValueError, match="no time steps"):
        layer(torch.randn(0, B, I), lengths=[1] * B)


@pytest.mark.parametrize("mode", MODES)
def test_autocast_accepts_what_torch_casts(mode):
    """Under autocast torch casts x and the weights itself, so a dtype mismatch is not refused there."""
    layer = layer_for(mode, "glass")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for dtype in (torch.float32, torch.bfloat16):
            out, _ = layer(batch_input(layer, dtype=dtype), zeros_state(layer, dtype=dtype), lengths=LENGTHS)
            assert out.shape == (T, B, H) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_wrong_state_shapes_are_refused_on_every_path(mode, engine, path):
    layer = layer_for(mode, engine, path["bidirectional"], path["batch_first"], num_layers=2)
    x, lengths = batch_input(layer), path["lengths"]
    rows = layer.num_layers * layer.num_directions
    for bad in (zeros_state(layer, rows=rows - 1), zeros_state(layer, rows=rows + 1),
                zeros_state(layer, batch=B + 1), zeros_state(layer, batch=B - 1), zeros_state(layer, hidden=H + 1)):
        with pytest.raises(ValueError, match=r"state h_0 of shape \(4, 3, 6\)" if path["bidirectional"]
                           else r"state h_0 of shape \(2, 3, 6\)"):
            layer(x, bad, lengths=lengths)
        with pytest.raises(ValueError, match="state"):
            layer.trace(x, lengths=lengths, state=bad)
    with pytest.raises(ValueError, match="dtype"):
        layer(x, zeros_state(layer, dtype=torch.float64), lengths=lengths)
    meta = torch.empty((rows, B, H), device="meta")
    with pytest.raises(ValueError, match="meta"):
        layer(x, (meta, meta) if mode == "lstm" else meta, lengths=lengths)
    out, _ = layer(x, zeros_state(layer), lengths=lengths)  # the right state runs
    assert out.shape[-1] == H * layer.num_directions


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input_needs_a_2d_state(mode, engine):
    layer = layer_for(mode, engine)
    x = torch.randn(T, I)
    with pytest.raises(ValueError, match=r"state h_0 of shape \(1, 6\)"):
        layer(x, zeros_state(layer, batch=1))  # a batched (1, 1, H) state with unbatched x
    h = torch.zeros(1, H)
    out, state = layer(x, (h, h) if mode == "lstm" else h)
    assert out.shape == (T, H)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_state_arity_is_checked(mode, engine):
    layer = layer_for(mode, engine)
    x = batch_input(layer)
    h = torch.zeros(1, B, H)
    if mode == "lstm":
        for bad in (h, (h,), (h, h, h), [h]):
            with pytest.raises(ValueError, match=r"pair \(h_0, c_0\)"):
                layer(x, bad)
            with pytest.raises(ValueError, match=r"pair \(h_0, c_0\)"):
                layer(x, bad, lengths=LENGTHS)
        with pytest.raises(TypeError, match="c_0 must be a tensor"):
            layer(x, (h, None))
        out, (h_n, c_n) = layer(x, [h, h])  # a list pair is read as the tuple
        assert h_n.shape == c_n.shape == (1, B, H)
    else:
        for bad in ((h, h), [h, h], (h,), 0.0):
            with pytest.raises(ValueError, match="one tensor h_0"):
                layer(x, bad)
            with pytest.raises(ValueError, match="one tensor h_0"):
                layer(x, bad, lengths=LENGTHS)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_lengths_must_be_b_integers_in_1_to_t(mode, engine, batch_first):
    layer = layer_for(mode, engine, bidirectional=True, batch_first=batch_first)
    x = batch_input(layer)
    for bad in (4.7, 4, "5", [4.7, 2.0, 3.0], [5, 2.5, 4], [True, True, True],
                torch.tensor([5.0, 2.0, 4.0]), torch.tensor([True, True, True]), np.array([5.0, 2.0, 4.0])):
        with pytest.raises(TypeError, match="lengths"):
            layer(x, lengths=bad)
    for bad in ([5, 2], [5, 2, 4, 1], torch.tensor([[5, 2, 4]]), torch.tensor(5), [0, 2, 4], [5, -1, 4],
                [T + 1, 2, 4]):
        with pytest.raises(ValueError, match="lengths"):
            layer(x, lengths=bad)
    with pytest.raises(ValueError, match="lengths needs a batched input"):
        layer(torch.randn(T, I), lengths=[T])
    reference, _ = layer(x, lengths=LENGTHS)
    for good in (tuple(LENGTHS), torch.tensor(LENGTHS, dtype=torch.int32), np.array(LENGTHS),
                 [np.int64(n) for n in LENGTHS], list(torch.tensor(LENGTHS))):
        torch.testing.assert_close(layer(x, lengths=good)[0], reference)


# ---- constructor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sizes_must_be_positive_ints(mode):
    for args, error, match in [((I, True), TypeError, "hidden_size must be an int"),
                               ((True, H), TypeError, "input_size must be an int"),
                               ((I, 6.0), TypeError, "hidden_size must be an int"),
                               ((I, "6"), TypeError, "hidden_size must be an int"),
                               ((I, 0), ValueError, "hidden_size must be >= 1, got 0"),
                               ((I, -5), ValueError, "hidden_size must be >= 1, got -5"),
                               ((0, H), ValueError, "input_size must be >= 1"),
                               ((I, H, 0), ValueError, "num_layers must be >= 1"),
                               ((I, H, False), TypeError, "num_layers must be an int"),
                               ((I, H, 1.5), TypeError, "num_layers must be an int")]:
        with pytest.raises(error, match=match):
            Recurrent(mode, *args)
    layer = Recurrent(mode, np.int64(I), np.int64(H), np.int64(2))  # NumPy ints are ints
    assert (layer.input_size, layer.hidden_size, layer.num_layers) == (I, H, 2)
    assert type(layer.hidden_size) is int


@pytest.mark.parametrize("mode", MODES)
def test_dropout_range_and_one_layer_dropout_are_refused(mode):
    for bad in (-0.1, 1.0, 1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            Recurrent(mode, I, H, 2, dropout=bad)
    for bad in ("0.5", True, None):
        with pytest.raises(TypeError, match="dropout must be a float"):
            Recurrent(mode, I, H, 2, dropout=bad)
    with pytest.raises(ValueError, match="dropout acts between layers, so it needs num_layers >= 2"):
        Recurrent(mode, I, H, dropout=0.5)
    assert Recurrent(mode, I, H, 2, dropout=0.5).dropout == 0.5
    assert Recurrent(mode, I, H, dropout=0.0).dropout == 0.0


def test_unknown_engine_lists_the_choices_in_the_constructor_and_the_setter():
    for bad in ("foo", "", None, "Fused"):
        with pytest.raises(ValueError, match="engine must be one of 'fused', 'glass'"):
            Recurrent("gru", I, H, engine=bad)
    layer = Recurrent("gru", I, H)
    with pytest.raises(ValueError, match="engine must be one of 'fused', 'glass', 'native', 'auto'; got 'foo'"):
        layer.engine = "foo"
    assert layer.engine == "auto"  # a refused value leaves the engine as it was (the default)


def test_from_torch_takes_a_one_layer_module_with_dropout_as_no_dropout():
    with pytest.warns(UserWarning):  # torch only warns about it
        module = nn.LSTM(I, H, dropout=0.5)
    layer = Recurrent.from_torch(module)
    assert layer.dropout == 0.0
    x = torch.randn(T, B, I)
    torch.testing.assert_close(layer(x)[0], module(x)[0])


# ---- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [RNNCell, LSTMCell, GRUCell])
def test_cells_check_sizes_and_inputs(cell):
    with pytest.raises(TypeError, match="hidden_size must be an int"):
        cell(I, True)
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        cell(I, 0)
    with pytest.raises(ValueError, match="input_size must be >= 1"):
        cell(-1, H)
    c = cell(I, H)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        c(torch.randn(B, I + 1))
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        c(torch.randn(2, B, I))
    h = torch.zeros(B + 1, H)
    with pytest.raises(ValueError, match="state"):
        c(torch.randn(B, I), (h, h) if cell is LSTMCell else h)
    if cell is LSTMCell:
        with pytest.raises(ValueError, match=r"pair \(h, c\)"):
            c(torch.randn(B, I), torch.zeros(B, H))
        with pytest.raises(ValueError, match="c of h's shape"):
            c(torch.randn(B, I), (torch.zeros(B, H), torch.zeros(B, H + 1)))
        h_t, c_t = c(torch.randn(I), (torch.zeros(H), torch.zeros(H)))  # unbatched still runs
        assert h_t.shape == c_t.shape == (H,)
    else:
        with pytest.raises(ValueError, match="state tensor"):
            c(torch.randn(B, I), (torch.zeros(B, H), torch.zeros(B, H)))
        assert c(torch.randn(I), torch.zeros(H)).shape == (H,)
