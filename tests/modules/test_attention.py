"""rnnlab.modules.attention: the scores against their equations, masking and padding invariance, gradients."""
import pytest
import torch

from rnnlab.modules.attention import ATTENTION_KINDS, AdditiveAttention, MultiplicativeAttention, attend, make_attention
from rnnlab.modules.pooling import length_mask

B, S, HQ, HK = 3, 5, 4, 6
LENGTHS = torch.tensor([5, 2, 1])
MASK = length_mask(LENGTHS, S)  # (B, S)


def inputs(pad_value: float = 0.0, key_size: int = HK):
    torch.manual_seed(1)
    query = torch.randn(B, HQ if key_size == HK else key_size)
    keys = torch.randn(B, S, key_size).masked_fill(~MASK.unsqueeze(2), pad_value)
    return query, keys


def build(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return make_attention(kind, HK if kind == "dot" else HQ, HK)


def test_factory_builds_each_kind_and_refuses_others():
    assert isinstance(make_attention("additive", HQ, HK), AdditiveAttention)
    assert make_attention("additive", HQ, HK, attention_size=7).attention_size == 7
    assert make_attention("general", HQ, HK).kind == "general"
    assert make_attention("dot", HK, HK).kind == "dot"
    assert not list(make_attention("dot", HK, HK).parameters())  # dot has no parameters
    with pytest.raises(ValueError, match="attention must be one of additive, general, dot"):
        make_attention("cosine", HQ, HK)
    with pytest.raises(ValueError, match="query_size == key_size"):
        make_attention("dot", HQ, HK)
    with pytest.raises(ValueError, match="additive score's hidden size"):
        make_attention("general", HQ, HK, attention_size=3)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_shapes_weights_sum_to_one_and_masked_positions_get_exactly_zero(kind):
    attention = build(kind)
    query, keys = inputs(key_size=HK)
    if kind == "dot":
        query = torch.randn(B, HK)
    context, weights = attention(query, keys, MASK)
    assert context.shape == (B, HK) and weights.shape == (B, S)
    torch.testing.assert_close(weights.sum(1), torch.ones(B))
    assert (weights[~MASK] == 0).all() and (weights[MASK] > 0).all()
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", weights, keys))
    assert weights[2, 0] == 1  # one real position takes all the weight, and the context is that key
    torch.testing.assert_close(context[2], keys[2, 0])


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_padding_invariance(kind):
    """What sits past a sequence's end, and how much of it there is, changes nothing."""
    attention = build(kind)
    query, keys = inputs(pad_value=0.0)
    if kind == "dot":
        query = torch.randn(B, HK)
    context, weights = attention(query, keys, MASK)
    _, loud = inputs(pad_value=1e4)  # the same real keys, huge padding
    loud_context, loud_weights = attention(query, loud, MASK)
    assert torch.equal(loud_weights, weights)
    torch.testing.assert_close(loud_context, context)
    for b, n in enumerate(LENGTHS.tolist()):  # each sequence alone, unpadded
        alone_context, alone_weights = attention(query[b:b + 1], keys[b:b + 1, :n], MASK[b:b + 1, :n])
        torch.testing.assert_close(alone_weights[0], weights[b, :n])
        torch.testing.assert_close(alone_context[0], context[b])


def test_scores_are_the_papers_equations():
    query, keys = inputs()
    additive = build("additive")
    W_q, W_k, v = additive.query_proj.weight, additive.key_proj.weight, additive.v.weight[0]
    want = torch.stack([torch.stack([v @ torch.tanh(W_q @ query[b] + W_k @ keys[b, s]) for s in range(S)])
                        for b in range(B)])  # e_s = v^T tanh(W_q q + W_k k_s)
    torch.testing.assert_close(additive.scores(query, keys), want)
    general = build("general")
    W_a = general.proj.weight.t()  # (Hq, Hk)
    want = torch.stack([torch.stack([query[b] @ W_a @ keys[b, s] for s in range(S)]) for b in range(B)])
    torch.testing.assert_close(general.scores(query, keys), want)  # e_s = h_t^T W_a h̄_s
    q = torch.randn(B, HK)
    torch.testing.assert_close(build("dot").scores(q, keys), torch.einsum("bh,bsh->bs", q, keys))
    # the weights are the masked softmax of those scores
    scores = torch.randn(B, S)
    _, weights = attend(scores, keys, MASK)
    for b, n in enumerate(LENGTHS.tolist()):
        torch.testing.assert_close(weights[b, :n], scores[b, :n].softmax(0))


def test_precomputed_keys_give_the_same_answer():
    """project_keys once per source (what a decoder does) == computing W_k k_s at every call."""
    query, keys = inputs()
    additive = build("additive")
    projected = additive.project_keys(keys)
    assert projected.shape == (B, S, additive.attention_size)
    for got, want in zip(additive(query, keys, MASK, projected), additive(query, keys, MASK)):
        torch.testing.assert_close(got, want)
    assert MultiplicativeAttention(HQ, HK).project_keys(keys) is None


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_gradients_reach_query_keys_and_parameters_but_not_padding(kind):
    attention = build(kind)
    query, keys = inputs()
    if kind == "dot":
        query = torch.randn(B, HK)
    query.requires_grad_(True)
    keys.requires_grad_(True)
    context, _ = attention(query, keys, MASK)
    context.square().sum().backward()
    assert query.grad.abs().sum() > 0
    assert (keys.grad[MASK].abs().sum(-1) > 0).all()
    assert (keys.grad[~MASK] == 0).all()  # weight exactly 0: padding gets no gradient either
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())
