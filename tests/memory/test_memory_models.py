"""Budget-matched models: the counted parameters are the real ones, and the cells end up close."""
import pytest
import torch

from rnnlab.memory.models import CELLS, MemoryModel, build_model, hidden_size_for, parameter_count


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sizes", [(2, 7, 1), (13, 20, 8), (1, 33, 10)])
def test_parameter_count_matches_the_module(cell, sizes):
    I, H, O = sizes
    model = MemoryModel(cell, I, H, O)
    assert parameter_count(cell, I, H, O) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("budget", [4641, 12500])
def test_matched_budgets_are_within_two_percent(budget):
    counts = {c: parameter_count(c, 2, hidden_size_for(c, 2, 1, budget), 1) for c in CELLS}
    for c, n in counts.items():
        assert abs(n - budget) / budget < 0.02, (c, n)
    # The LSTM needs the smallest hidden size (4 weight blocks), the plain RNN the largest (1 block).
    H = {c: hidden_size_for(c, 2, 1, budget) for c in CELLS}
    assert H["lstm"] < H["gru"] < H["rnn_tanh"]


def test_readout_reads_the_last_steps():
    model = build_model("gru", 3, 4, 500, seed=0)
    x = torch.randn(9, 2, 3)
    out = model(x, readout=5)
    assert out.shape == (5, 2, 4)
    torch.testing.assert_close(out[-1:], model(x, readout=1))


@pytest.mark.parametrize("cell", CELLS)
def test_forget_bias_sets_the_lstm_forget_block_only(cell):
    """torch.nn's LSTM stacks i, f, g, o in blocks of H rows: block 1 of b_ih becomes the value, of b_hh
    zero, so b_ih + b_hh starts at the value; every other block, and every other cell, keeps its init."""
    model, fresh = build_model(cell, 3, 2, 800, seed=0, forget_bias=1.0), build_model(cell, 3, 2, 800, seed=0)
    H = model.rnn.hidden_size
    for (name, p), q in zip(model.rnn.named_parameters(), fresh.rnn.parameters()):
        if cell == "lstm" and name.startswith("bias_"):
            assert torch.all(p[H:2 * H] == (1.0 if name.startswith("bias_ih") else 0.0))
            assert torch.equal(torch.cat([p[:H], p[2 * H:]]), torch.cat([q[:H], q[2 * H:]]))
        else:
            assert torch.equal(p, q), name
