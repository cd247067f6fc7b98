"""rnnlab.decoding.search: beam 1 is greedy, a wide beam is brute force, batching changes nothing, eos ends
a sequence, attention comes per output token. On a tiny random AttentionDecoder, on a random tree (a
fresh distribution after every prefix, so greedy is often wrong) and on scripted models."""
import pytest
import torch

from rnnlab.decoding.search import beam_search, gnmt_length_penalty, greedy
from rnnlab.modules.decoder import AttentionDecoder, Memory
from rnnlab.modules.pooling import length_mask
from rnnlab.state import select_rows

BOS, EOS = 0, 1
LENGTHS = torch.tensor([3, 5, 1])


def tiny(vocab: int, seed: int = 0, cell: str = "lstm", attention: str = "general"):
    """A random decoder and a random padded source of 3 sentences: (step_fn, state, memory)."""
    torch.manual_seed(seed)
    dec = AttentionDecoder(vocab, 4, 8, 6, num_layers=2, cell=cell, attention=attention).eval()
    with torch.no_grad():
        dec.out.weight.mul_(4.0)  # peakier distributions than the init's: eos wins early for some prefixes
    mask = length_mask(LENGTHS, 5)
    outputs = torch.randn(3, 5, 6).masked_fill(~mask.unsqueeze(2), 0.0)  # (B, S, He)
    final = torch.randn(3, 6)
    return dec.step, dec.init_state(outputs, final, mask), dec.memory(outputs, mask)


def alone(state, memory, b: int):
    """Sentence b by itself: its state, and its memory cut to its own length (no padding at all)."""
    if not isinstance(memory, Memory):
        return select_rows(state, [b]), select_rows(memory, [b])
    n = int(LENGTHS[b])
    row = memory.select_rows([b])
    return select_rows(state, [b]), Memory(row.keys[:, :n], row.mask[:, :n],
                                           None if row.projected is None else row.projected[:, :n])


class RandomTree:
    """A model with its own random next-token distribution and attention (over S = 3) after every prefix,
    one tree per sentence: branches share nothing, so the best output is anywhere in the tree.

    The state (1, N, 1) long is the prefix read so far, bos included, as a number in base V + 1; the
    memory (1, N) is each row's sentence. A search that mixed up rows would read another prefix's or
    another sentence's numbers."""

    def __init__(self, vocab: int, sentences: int = 3, max_len: int = 4, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        codes = (vocab + 1) ** max_len  # every prefix of bos + up to max_len - 1 tokens
        self.base = vocab + 1
        self.log_probs = (2 * torch.randn(sentences, codes, vocab, generator=g)).log_softmax(-1)
        self.attention = torch.randn(sentences, codes, 3, generator=g).softmax(-1)
        self.sentences = sentences

    def start(self):
        return torch.zeros(1, self.sentences, 1, dtype=torch.long), torch.arange(self.sentences)[None]

    def __call__(self, y_prev, state, memory):
        code = state[0, :, 0] * self.base + y_prev + 1  # (N,): the prefix with y_prev appended
        sentence = memory[0]  # (N,)
        return self.log_probs[sentence, code], code[None, :, None], self.attention[sentence, code]


def model(kind: str, vocab: int, seed: int):
    if kind == "decoder":
        return tiny(vocab, seed)
    tree = RandomTree(vocab, seed=seed)
    return (tree, *tree.start())


def brute_force(step_fn, state, memory, max_len: int, alpha: float):
    """Every output of one sentence (ending in eos, or cut at max_len) with its summed log-probs, found by
    walking the whole tree of prefixes; and the best of them by score / lp."""
    found = []

    def walk(prefix, state, score):
        y = torch.tensor([prefix[-1] if prefix else BOS])
        log_probs, state, _ = step_fn(y, state, memory)
        for token in range(log_probs.shape[1]):
            tokens, s = prefix + [token], score + float(log_probs[0, token])
            if token == EOS or len(tokens) == max_len:
                found.append((tokens, s))
            else:
                walk(tokens, state, s)

    with torch.no_grad():
        walk([], state, 0.0)
    return found, max(found, key=lambda ts: ts[1] / gnmt_length_penalty(len(ts[0]), alpha))


def teacher_forced(step_fn, state, memory, tokens):
    """(sum of log-probs, attention (len, S)) of one sentence's given output, stepping over it."""
    score, rows = 0.0, []
    with torch.no_grad():
        for y, token in zip([BOS] + tokens[:-1], tokens):
            log_probs, state, weights = step_fn(torch.tensor([y]), state, memory)
            score += float(log_probs[0, token])
            rows.append(weights[0])
    return score, torch.stack(rows)


@pytest.mark.parametrize("kind", ["decoder", "tree"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_is_greedy(kind, seed):
    step, state, memory = model(kind, 6 if kind == "decoder" else 4, seed)
    max_len = torch.tensor([7, 4, 6]) if kind == "decoder" else torch.tensor([4, 2, 3])
    g = greedy(step, state, memory, BOS, EOS, max_len)
    b = beam_search(step, state, memory, BOS, EOS, 1, max_len)
    assert [h.tokens for h in b] == [h.tokens for h in g]
    assert [h.score for h in b] == pytest.approx([h.score for h in g], abs=1e-6)
    for h, limit in zip(g, max_len.tolist()):
        assert len(h.tokens) == limit or h.tokens[-1] == EOS  # cut at max_len, or stopped at eos
        assert EOS not in h.tokens[:-1] and h.attention.shape[0] == len(h.tokens)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("kind,seed", [("decoder", 0), ("decoder", 1), ("tree", 0), ("tree", 1), ("tree", 6)])
def test_a_wide_beam_finds_the_best_of_all_sequences(kind, seed, alpha):
    """Vocabulary 4, max_len 4: 121 possible outputs per sentence, all scored by brute force. A beam of
    128 prunes nothing, so it must return the best of them (by score / lp)."""
    step, state, memory = model(kind, 4, seed)
    found = beam_search(step, state, memory, BOS, EOS, 128, 4, length_penalty=alpha)
    greedy_found = greedy(step, state, memory, BOS, EOS, 4)
    for b in range(3):
        everything, (best, best_score) = brute_force(step, *alone(state, memory, b), 4, alpha)
        assert len(everything) == 1 + 3 + 9 + 27 + 81
        assert found[b].tokens == best
        assert found[b].score == pytest.approx(best_score, abs=1e-5)
        scores = {tuple(t): s for t, s in everything}
        assert greedy_found[b].score == pytest.approx(scores[tuple(greedy_found[b].tokens)], abs=1e-5)


def test_the_random_tree_is_a_real_test():
    """On this tree, sentence 0's best output is one that greedy misses, that a beam of 2 comes closer
    to and a beam of 3 finds: the searches differ there, and the wide-beam test checks them where it shows."""
    step, state, memory = model("tree", 4, 6)
    _, (best, best_score) = brute_force(step, *alone(state, memory, 0), 4, 0.0)
    scores = [greedy(step, state, memory, BOS, EOS, 4)[0].score]
    scores += [beam_search(step, state, memory, BOS, EOS, k, 4)[0].score for k in (2, 3)]
    assert scores[0] < scores[1] - 0.1 and scores[1] < scores[2] - 0.1
    assert scores[2] == pytest.approx(best_score)


@pytest.mark.parametrize("cell,attention", [("lstm", "general"), ("gru", "additive")])
def test_batched_search_equals_search_per_sentence(cell, attention):
    step, state, memory = tiny(6, 3, cell, attention)
    max_len = torch.tensor([6, 3, 8])
    batched = {"greedy": greedy(step, state, memory, BOS, EOS, max_len),
               "beam": beam_search(step, state, memory, BOS, EOS, 3, max_len, length_penalty=0.6)}
    for b, n in enumerate(LENGTHS.tolist()):
        state_b, memory_b = alone(state, memory, b)
        single = {"greedy": greedy(step, state_b, memory_b, BOS, EOS, int(max_len[b])),
                  "beam": beam_search(step, state_b, memory_b, BOS, EOS, 3, int(max_len[b]), 0.6)}
        for kind in batched:
            got, want = batched[kind][b], single[kind][0]
            assert got.tokens == want.tokens, kind
            assert got.score == pytest.approx(want.score, abs=1e-5)
            assert got.attention.shape == (len(got.tokens), 5) and want.attention.shape == (len(got.tokens), n)
            torch.testing.assert_close(got.attention[:, :n], want.attention)
            assert (got.attention[:, n:] == 0).all()  # the padding of the batch gets no attention
            assert len(got.tokens) <= max_len[b]


def test_batched_tree_search_equals_search_per_sentence():
    step, state, memory = model("tree", 4, 2)
    batched = beam_search(step, state, memory, BOS, EOS, 2, torch.tensor([4, 2, 3]))
    for b, limit in enumerate([4, 2, 3]):
        single = beam_search(step, *alone(state, memory, b), BOS, EOS, 2, limit)[0]
        assert batched[b].tokens == single.tokens and batched[b].score == pytest.approx(single.score)


@pytest.mark.parametrize("kind", ["decoder", "tree"])
@pytest.mark.parametrize("beam_size", [2, 4])
def test_score_and_attention_are_those_of_the_returned_tokens(kind, beam_size):
    """What beam search reports (score, one attention row per output token) is what stepping the model
    over its tokens gives: the histories followed each hypothesis through every reordering."""
    step, state, memory = model(kind, 6 if kind == "decoder" else 4, 4)
    for b, h in enumerate(beam_search(step, state, memory, BOS, EOS, beam_size, 4 if kind == "tree" else 7,
                                      length_penalty=0.5)):
        score, attention = teacher_forced(step, *alone(state, memory, b), h.tokens)
        assert h.score == pytest.approx(score, abs=1e-5)
        assert h.attention.shape[0] == len(h.tokens)
        torch.testing.assert_close(h.attention[:, :attention.shape[1]], attention)


class Script:
    """A scripted model: sentence s writes SCRIPT[s][t] at step t (probability 0.9), attending to source
    position t. The sentence id comes from the memory and t from the state, so a search that mixed up or
    dropped the wrong rows would write someone else's script. It records how many rows each call ran."""

    SCRIPT = [[3, 1, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2], [4, 4, 3, 1, 3, 3]]  # eos = 1 at step 1, never, at 3

    def __init__(self):
        self.rows = []

    def __call__(self, y_prev, state, memory):
        t, sentence = state[0, :, 0].long(), memory[0]  # (N,), (N,)
        self.rows.append(len(y_prev))
        script = torch.tensor(self.SCRIPT)[sentence, t.clamp(max=5)]  # (N,)
        probs = torch.full((len(y_prev), 5), 0.1 / 4).scatter_(1, script[:, None], 0.9)
        attention = torch.nn.functional.one_hot(t.clamp(max=5), 6).float()  # (N, S = 6)
        return probs.log(), state + 1, attention


def scripted_start():
    return torch.zeros(1, 3, 1), torch.arange(3)[None]  # state (1, B, 1): steps taken; memory (1, B): ids


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_eos_ends_a_sequence_and_max_len_cuts_one(search):
    model = Script()
    state, memory = scripted_start()
    max_len = torch.tensor([6, 4, 6])
    if search == "greedy":
        found = greedy(model, state, memory, BOS, EOS, max_len)
    else:
        found = beam_search(model, state, memory, BOS, EOS, 2, max_len)
    assert [h.tokens for h in found] == [[3, 1], [2, 2, 2, 2], [4, 4, 3, 1]]  # nothing after eos
    for h in found:  # one attention row per output token, in order: row t is step t's
        assert torch.equal(h.attention, torch.eye(6)[:len(h.tokens)])
    assert found[0].score == pytest.approx(2 * torch.tensor(0.9).log().item())
    # finished sentences leave the batch: sentence 0 after step 2, sentence 1 after step 4
    K = 1 if search == "greedy" else 2
    assert model.rows == [3 * K, 3 * K, 2 * K, 2 * K]


def markov(table):
    """A model whose next-token distribution depends only on the previous token: table[y_prev] (V,)."""
    table = torch.tensor(table).log()

    def step(y_prev, state, memory):
        return table[y_prev], state, torch.ones(len(y_prev), 1)
    return step


def test_a_beam_finds_what_greedy_misses_and_the_length_penalty_favours_longer_outputs():
    state = torch.zeros(1, 1, 1)
    # from bos: 2 (0.45) then surely eos, or 3 (0.55) then anything. Greedy takes 3 and then 2 (0.35) ...;
    # a beam of 2 keeps "2" alive and finishes "2 eos" (0.45 * 0.98), which no continuation of "3" beats.
    step = markov([[0.0, 0.0, 0.45, 0.55], [0.25] * 4, [0.0, 0.98, 0.01, 0.01], [0.0, 0.3, 0.35, 0.35]])
    assert greedy(step, state, None, BOS, EOS, 4)[0].tokens == [3, 2, 1]
    best = beam_search(step, state, None, BOS, EOS, 2, 4)[0]
    assert best.tokens == [2, 1] and best.score == pytest.approx(float(torch.tensor(0.45 * 0.98).log()))
    # "eos" at once (0.5) against "2 eos" (0.45 * 0.999): the sum of log-probs takes the short one; divided
    # by lp = ((5 + |Y|) / 6) ** 1, log 0.4496 / (7 / 6) = -0.685 beats log 0.5 / 1 = -0.693
    step = markov([[0.0, 0.5, 0.45, 0.05], [0.25] * 4, [0.0, 0.999, 0.0005, 0.0005], [0.25] * 4])
    assert beam_search(step, state, None, BOS, EOS, 3, 4)[0].tokens == [1]
    assert beam_search(step, state, None, BOS, EOS, 3, 4, length_penalty=1.0)[0].tokens == [2, 1]
    assert gnmt_length_penalty(1, 1.0) == 1.0 and gnmt_length_penalty(7, 0.5) == pytest.approx(2 ** 0.5)


def test_max_len_is_checked():
    state, memory = scripted_start()
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        greedy(Script(), state, memory, BOS, EOS, 0)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        beam_search(Script(), state, memory, BOS, EOS, 2, torch.tensor([3, 0, 2]))


def test_min_len_keeps_a_wide_beam_from_answering_nothing():
    """The empty output (eos at once) scores one log-prob against the sum of many for any real output: without a
    length penalty a beam wide enough to keep it among the first step's K best returns it, where greedy and a
    narrower beam answer (the "empty translation" of a wide beam). min_len 1 rules eos out of the first step and
    leaves every other score as the model gave it."""
    state = torch.zeros(1, 1, 1)
    # from bos: eos 0.05, 2 (0.5), 3 (0.45); after 2 or 3: eos 0.04, else 0.48 each. Every 6-token output scores
    # log 0.5 + 5 log 0.48 = -4.36 (or less), eos at once log 0.05 = -3.0
    step = markov([[0.0, 0.05, 0.5, 0.45], [0.25] * 4, [0.0, 0.04, 0.48, 0.48], [0.0, 0.04, 0.48, 0.48]])
    assert len(greedy(step, state, None, BOS, EOS, 6)[0].tokens) == 6
    assert len(beam_search(step, state, None, BOS, EOS, 2, 6)[0].tokens) == 6
    assert beam_search(step, state, None, BOS, EOS, 3, 6)[0].tokens == [EOS]  # the pathology
    real = pytest.approx(float(torch.tensor(0.5).log() + 5 * torch.tensor(0.48).log()), abs=1e-5)
    for k in (1, 2, 3, 4):
        best = beam_search(step, state, None, BOS, EOS, k, 6, min_len=1)[0]
        assert best.tokens[0] == 2 and len(best.tokens) == 6 and best.score == real, k
    assert greedy(step, state, None, BOS, EOS, 6, min_len=1)[0].score == real
    # eos first would be the only sensible answer here: min_len 1 still takes a token, eos right after it
    step = markov([[0.0, 0.9, 0.05, 0.05], [0.25] * 4, [0.0, 0.9, 0.05, 0.05], [0.0, 0.9, 0.05, 0.05]])
    assert beam_search(step, state, None, BOS, EOS, 3, 6, min_len=1)[0].tokens in ([2, 1], [3, 1])
    assert greedy(step, state, None, BOS, EOS, 1, min_len=1)[0].tokens == [2]  # a limit of 1: cut, no eos
