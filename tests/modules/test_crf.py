"""The CRF against brute force: enumerate every tag path of tiny inputs and compare."""
import itertools

import pytest
import torch

from rnnlab.modules.crf import CRF, IMPOSSIBLE, bio_constraints

TAGS = ["O", "B-a", "I-a", "B-b", "I-b"]


def brute_force(crf: CRF, emissions: torch.Tensor, length: int):
    """log Z and the best path of one sequence by scoring all K^length paths explicitly."""
    trans, start, end = crf._params()
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=length):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        s = s + sum(trans[path[t - 1], path[t]] for t in range(1, length))
        scores[path] = s
    all_scores = torch.stack(list(scores.values()))
    return torch.logsumexp(all_scores, 0), list(max(scores, key=lambda p: scores[p].item()))


@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_and_viterbi_match_enumeration(constrained):
    torch.manual_seed(0)
    allowed, allowed_start = bio_constraints(TAGS) if constrained else (None, None)
    crf = CRF(len(TAGS), allowed, allowed_start)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    lengths = torch.tensor([4, 1, 3, 2])
    emissions = torch.randn(4, 4, len(TAGS), dtype=torch.float64).float()
    log_z = crf.log_partition(emissions, lengths)
    paths = crf.decode(emissions, lengths)
    for b, n in enumerate(lengths.tolist()):
        want_z, want_path = brute_force(crf, emissions[b], n)
        torch.testing.assert_close(log_z[b], want_z, atol=1e-4, rtol=1e-5)
        assert paths[b] == want_path
        # the gold-path score is the same sum the brute force used
        gold = torch.tensor([want_path + [0] * (4 - n)])
        score = crf.path_score(emissions[b:b + 1], gold, lengths[b:b + 1])
        assert crf.nll(emissions[b:b + 1], gold, lengths[b:b + 1]).item() >= -1e-5
        torch.testing.assert_close(score[0], max(brute_force_scores(crf, emissions[b], n)), atol=1e-4, rtol=1e-5)


def brute_force_scores(crf, emissions, length):
    trans, start, end = crf._params()
    for path in itertools.product(range(crf.num_tags), repeat=length):
        yield (start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
               + sum(trans[path[t - 1], path[t]] for t in range(1, length)))


def test_probabilities_sum_to_one_and_constraints_hold():
    torch.manual_seed(1)
    crf = CRF(len(TAGS), *bio_constraints(TAGS))
    emissions = torch.randn(1, 3, len(TAGS)) * 5
    total = sum(torch.exp(-crf.nll(emissions, torch.tensor([list(p)]), torch.tensor([3])))
                for p in itertools.product(range(len(TAGS)), repeat=3))
    torch.testing.assert_close(total, torch.ones(1), atol=1e-4, rtol=0)
    # even when emissions scream for an illegal I-a after O, Viterbi returns a valid IOB2 path
    emissions = torch.full((1, 2, len(TAGS)), -5.0)
    emissions[0, 0, 0] = 5.0  # O
    emissions[0, 1, 2] = 5.0  # I-a
    path = [TAGS[i] for i in crf.decode(emissions, torch.tensor([2]))[0]]
    assert path[1] != "I-a" or path[0] in ("B-a", "I-a")
    allowed, start = bio_constraints(TAGS)
    assert not allowed[0, 2] and allowed[1, 2] and not allowed[3, 2] and not start[2] and start[1]
    assert crf.transition_mask[0, 2] == IMPOSSIBLE


def test_gradients_flow_to_emissions_and_transitions():
    crf = CRF(len(TAGS), *bio_constraints(TAGS))
    emissions = torch.randn(2, 3, len(TAGS), requires_grad=True)
    loss = crf.nll(emissions, torch.tensor([[1, 2, 0], [3, 0, 0]]), torch.tensor([3, 1])).sum()
    loss.backward()
    assert emissions.grad is not None and crf.transitions.grad.abs().sum() > 0
    # padded positions get no gradient
    assert emissions.grad[1, 1:].abs().sum() == 0
