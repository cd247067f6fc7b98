"""rnnlab.modules.pooling: every pool reads only the real steps; rnnlab.modules.unwrap."""
import pytest
import torch
from torch import nn

from rnnlab.modules import unwrap
from rnnlab.modules.pooling import AttentionPool, last_step, length_mask, max_pool, mean_pool

LENGTHS = torch.tensor([3, 1, 4])


def batch(pad_value: float) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5)  # (B, T, H)
    return x.masked_fill(~length_mask(LENGTHS, 4)[..., None], pad_value)


def test_length_mask():
    assert length_mask(LENGTHS, 4).tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("pool", [max_pool, mean_pool, last_step])
def test_pools_ignore_what_is_past_each_end(pool):
    a, b = pool(batch(0.0), LENGTHS), pool(batch(1e6), LENGTHS)
    assert a.shape == (3, 5) and torch.allclose(a, b)


def test_pools_against_the_definitions():
    x = batch(0.0)
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.allclose(max_pool(x, LENGTHS)[b], x[b, :n].amax(0))
        assert torch.allclose(mean_pool(x, LENGTHS)[b], x[b, :n].mean(0))
        assert torch.equal(last_step(x, LENGTHS)[b], x[b, n - 1])


def test_attention_pool_weights_sum_to_one_over_real_steps():
    torch.manual_seed(0)
    pool = AttentionPool(5, 3)
    w = pool.weights(batch(0.0), LENGTHS)  # (B, T, 1)
    assert torch.allclose(w.sum(1), torch.ones(3, 1))
    assert (w[~length_mask(LENGTHS, 4)] == 0).all()
    assert torch.allclose(pool(batch(0.0), LENGTHS), pool(batch(1e6), LENGTHS))
    # named as the nn.Sequential it was before it was a module of its own: old bundles load unchanged
    assert list(pool.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_unwrap():
    model = nn.Linear(2, 2)
    assert unwrap(model) is model
    assert unwrap(nn.DataParallel(model)) is model  # on CPU DataParallel just wraps; DDP is unwrapped alike
