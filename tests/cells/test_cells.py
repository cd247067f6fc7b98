"""Cells: parity with torch.nn's cells, gradcheck in float64, the original GRU against its formula."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnlab import GRUCell, LSTMCell, RNNCell
from rnnlab.cells import gru_input, gru_step, lstm_input, lstm_step, rnn_input, rnn_step

B, I, H = 3, 4, 5


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny tensors, 1 thread

CELLS = [
    (lambda bias: LSTMCell(I, H, bias=bias), lambda bias: nn.LSTMCell(I, H, bias=bias)),
    (lambda bias: GRUCell(I, H, bias=bias), lambda bias: nn.GRUCell(I, H, bias=bias)),
    (lambda bias: RNNCell(I, H, bias=bias), lambda bias: nn.RNNCell(I, H, bias=bias)),
    (lambda bias: RNNCell(I, H, bias=bias, nonlinearity="relu"),
     lambda bias: nn.RNNCell(I, H, bias=bias, nonlinearity="relu")),
]


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("make", CELLS, ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch_and_shares_its_state_dict(make, bias):
    torch.manual_seed(0)
    ours, theirs = make[0](bias), make[1](bias)
    theirs.load_state_dict(ours.state_dict())  # same names and shapes: loads strictly, no renaming
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(B, I)
    state = (torch.randn(B, H), torch.randn(B, H)) if isinstance(ours, LSTMCell) else torch.randn(B, H)
    for args in [(x,), (x, state)]:
        for a, b in zip(_as_tuple(ours(*args)), _as_tuple(theirs(*args))):
            assert_close(a, b, atol=1e-6, rtol=1e-5)
    # unbatched input, as torch.nn allows
    for a, b in zip(_as_tuple(ours(x[0])), _as_tuple(theirs(x[0]))):
        assert a.shape == (H,)
        assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("make", [m for m, _ in CELLS], ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_init_is_torch_uniform(make):
    torch.manual_seed(0)
    cell = make(True)
    bound = 1 / math.sqrt(H)
    for p in cell.parameters():
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.5 * bound  # actually spread over the range, not zeros


def _params(gates, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    shapes = [(gates * H, I), (gates * H, H), (gates * H,), (gates * H,)]
    return [torch.randn(s, generator=g, dtype=dtype, requires_grad=True) for s in shapes]


def _inputs(dtype=torch.float64):
    g = torch.Generator().manual_seed(2)
    return [torch.randn(B, n, generator=g, dtype=dtype, requires_grad=True) for n in (I, H, H)]


def test_lstm_step_gradcheck():
    x, h, c = _inputs()

    def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
        (next_h, next_c), _ = lstm_step(lstm_input(x, w_ih, b_ih, b_hh), (h, c), w_hh.t())
        return next_h, next_c

    assert torch.autograd.gradcheck(f, (x, h, c, *_params(4)))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_gradcheck(reset_after):
    x, h, _ = _inputs()

    def f(x, h, w_ih, w_hh, b_ih, b_hh):
        return gru_step(gru_input(x, w_ih, b_ih), h, w_hh.t(), b_hh, reset_after)[0]

    assert torch.autograd.gradcheck(f, (x, h, *_params(3)))


@pytest.mark.parametrize("nonlinearity", [torch.tanh, torch.relu])
def test_rnn_step_gradcheck(nonlinearity):
    x, h, _ = _inputs()

    def f(x, h, w_ih, w_hh, b_ih, b_hh):
        return rnn_step(rnn_input(x, w_ih, b_ih, b_hh), h, w_hh.t(), nonlinearity)[0]

    assert torch.autograd.gradcheck(f, (x, h, *_params(1)))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_cell_gradcheck_through_module(reset_after):
    cell = GRUCell(I, H, reset_after=reset_after).double()
    x, h, _ = _inputs()
    assert torch.autograd.gradcheck(lambda x, h: cell(x, h), (x, h))


def test_lstm_cell_gradcheck_through_module():
    cell = LSTMCell(I, H).double()
    x, h, c = _inputs()
    assert torch.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))


def test_gru_original_form_is_cho_et_al():
    """reset_after=False: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn), written out by hand."""
    torch.manual_seed(0)
    cell = GRUCell(I, H, reset_after=False).double()
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    W_ir, W_iz, W_in = cell.weight_ih.detach().chunk(3)
    W_hr, W_hz, W_hn = cell.weight_hh.detach().chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.detach().chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.detach().chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    got, gates = cell.step(x, h)
    assert_close(got, expected)
    assert_close(cell(x, h), expected)
    assert_close(gates["reset_gate"], r)
    assert_close(gates["update_gate"], z)
    assert_close(gates["candidate"], n)
    # and it is a different function from torch's form over the same weights
    torch_form = GRUCell(I, H).double()
    torch_form.load_state_dict(cell.state_dict())
    assert (torch_form(x, h) - expected).abs().max() > 1e-3


def test_lstm_gates_satisfy_their_equations():
    torch.manual_seed(0)
    cell = LSTMCell(I, H).double()
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    (next_h, next_c), g = cell.step(x, (h, c))
    W_i, W_f, W_g, W_o = cell.weight_ih.detach().chunk(4)
    U_i, U_f, U_g, U_o = cell.weight_hh.detach().chunk(4)
    b = (cell.bias_ih + cell.bias_hh).detach().chunk(4)
    assert_close(g["in_gate"], torch.sigmoid(x @ W_i.T + h @ U_i.T + b[0]))
    assert_close(g["forget_gate"], torch.sigmoid(x @ W_f.T + h @ U_f.T + b[1]))
    assert_close(g["cell_candidate"], torch.tanh(x @ W_g.T + h @ U_g.T + b[2]))
    assert_close(g["out_gate"], torch.sigmoid(x @ W_o.T + h @ U_o.T + b[3]))
    assert_close(next_c, g["forget_gate"] * c + g["in_gate"] * g["cell_candidate"])
    assert_close(next_h, g["out_gate"] * torch.tanh(next_c))


def test_bad_nonlinearity_is_refused():
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(I, H, nonlinearity="sigmoid")
