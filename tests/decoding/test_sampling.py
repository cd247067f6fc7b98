"""rnnlab.decoding.sampling: the masked, tempered, top-k sampler and the loop over a recurrent model."""
import torch
from torch import nn

from rnnlab.decoding.sampling import next_token, sample, sampling_mask
from rnnlab.vocab import Vocab


def test_sampling_mask_leaves_out_unk_and_pad():
    vocab = Vocab(["a", "b"])  # <pad>, <unk>, a, b
    assert sampling_mask(vocab).tolist() == [False, False, True, True]
    assert sampling_mask(Vocab(["a"], pad=None, unk=None)).tolist() == [True]


def test_next_token_greedy_top_k_and_mask():
    logits = torch.tensor([5.0, 3.0, 2.0, 1.0])
    allowed = torch.tensor([False, True, True, True])
    g = torch.Generator().manual_seed(0)
    assert next_token(logits, allowed, 0.0, 0, g) == 1  # greedy among the allowed
    assert {next_token(logits, allowed, 1.0, 1, g) for _ in range(20)} == {1}  # top-1 is greedy
    drawn = {next_token(logits, allowed, 5.0, 2, g) for _ in range(200)}
    assert drawn == {1, 2}  # never the masked best, never outside the top 2


class Counter(nn.Module):
    """A stand-in recurrent LM over 5 tokens: the next token is (last + 1) mod 5; the state counts steps."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, ids, state=None):
        steps = (state if state is not None else torch.zeros(1)) + ids.shape[1]
        logits = torch.full((*ids.shape, 5), -10.0) + self.w
        logits.scatter_(2, ((ids + 1) % 5)[..., None], 10.0)
        return logits, steps


def test_sample_feeds_each_token_back_with_the_state():
    allowed = torch.ones(5, dtype=torch.bool)
    greedy = list(sample(Counter(), [3], 6, allowed=allowed, temperature=0.0, generator=torch.Generator()))
    assert greedy == [4, 0, 1, 2, 3, 4]
    runs = [list(sample(Counter(), [0], 30, allowed=allowed, temperature=50.0,
                        generator=torch.Generator().manual_seed(s))) for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]  # same seed, same tokens
