"""rnnlab.decoding.seq2seq: output length limits, greedy / beam dispatch, eos stripping, an output's prediction
fields, and the teacher-forced alternatives: their shape, and that a chosen token's probability there is exp of
the log-prob its search step gave it."""
import math
from types import SimpleNamespace

import pytest
import torch

from rnnlab.decoding.search import Hypothesis, beam_search, greedy
from rnnlab.decoding.seq2seq import (
    alternatives,
    generate,
    length_limits,
    output_fields,
    strip_eos,
    teacher_forced_inputs,
)
from rnnlab.modules.decoder import AttentionDecoder
from rnnlab.modules.pooling import length_mask

BOS, EOS, PAD = 0, 1, 2
V = 8
SIZES = torch.tensor([3, 5, 1])


def pieces(ids):
    return [f"p{i}" for i in ids]


def test_length_limits():
    limits = length_limits(torch.tensor([1, 4, 7]), 1.5, 10)
    assert limits.dtype == torch.long and limits.device.type == "cpu"
    assert limits.tolist() == [11, 16, 20]  # floor(1.5) + 10, 6 + 10, floor(10.5) + 10
    assert length_limits(torch.tensor([10]), 0.3, 0).tolist() == [3]  # floor of 3.0000000000000004
    assert length_limits(torch.tensor([4, 9]), 0.0, 0).tolist() == [1, 1]  # never below 1: eos needs a step


class Model:
    """A model for `generate`: start gives a random decoder's state and memory over sources of SIZES tokens."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        self.decoder = AttentionDecoder(V, 4, 6, 5, cell="gru").eval()
        with torch.no_grad():
            self.decoder.out.weight.mul_(4.0)
        self.mask = length_mask(SIZES, 5)
        self.keys = torch.randn(3, 5, 5).masked_fill(~self.mask.unsqueeze(2), 0.0)
        self.final = torch.randn(3, 5)

    def start(self, inputs):
        d = self.decoder
        return d.init_state(self.keys, self.final, self.mask), d.memory(self.keys, self.mask), self.mask.sum(1)

    def __call__(self, inputs, targets_in):  # teacher forcing
        return self.decoder(targets_in, self.keys, self.final, self.mask)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_generate_is_the_search_within_the_limits(beam_size):
    model = Model()
    got = generate(model, {}, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=1.0, max_len_b=1)
    state, memory, sizes = model.start({})
    limits = (sizes + 1).tolist()
    if beam_size == 1:
        want = greedy(model.decoder.step, state, memory, BOS, EOS, torch.tensor(limits), min_len=1)
    else:
        want = beam_search(model.decoder.step, state, memory, BOS, EOS, beam_size, torch.tensor(limits), min_len=1)
    assert [h.tokens for h in got] == [h.tokens for h in want]
    assert [h.score for h in got] == [h.score for h in want]
    assert all(len(h.tokens) <= n for h, n in zip(got, limits))
    assert all(h.tokens[0] != EOS for h in got)  # never the empty output (min_len 1)


def test_generate_stops_at_the_limit_when_eos_never_comes():
    """A model whose eos is impossible: every output is exactly its limit long, and strip_eos keeps it whole."""
    model = Model()
    step = model.decoder.step

    def no_eos(y, state, memory):
        log_probs, state, weights = step(y, state, memory)
        return log_probs.index_fill(1, torch.tensor([EOS]), float("-inf")), state, weights

    model.decoder = SimpleNamespace(step=no_eos, init_state=model.decoder.init_state, memory=model.decoder.memory)
    for beam_size in (1, 2):
        hyps = generate(model, {}, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=2.0, max_len_b=0)
        assert [len(h.tokens) for h in hyps] == (2 * SIZES).tolist()
        assert all(strip_eos(h.tokens, EOS) == h.tokens for h in hyps)


def test_strip_eos():
    assert strip_eos([5, 6, EOS], EOS) == [5, 6]
    assert strip_eos([5, 6], EOS) == [5, 6]  # cut by the limit: nothing to strip
    assert strip_eos([EOS], EOS) == []
    assert strip_eos([], EOS) == []
    assert strip_eos([EOS, 5], EOS) == [EOS, 5]  # only a closing eos


def test_output_fields():
    attention = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1234567, 0.8765433, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    hyp = Hypothesis([4, 5, EOS], math.log(0.5) + math.log(0.25) + math.log(0.9), attention)
    fields = output_fields(hyp, eos=EOS, pieces=pieces, detokenize=" ".join, answer_kind="caption",
                           source_size=3, attention=True)
    assert list(fields) == ["answer", "answer_kind", "sequence", "scores", "target_tokens", "attention"]
    assert fields["answer"] == {"label": "p4 p5", "probability": round((0.5 * 0.25 * 0.9) ** (1 / 3), 6)}
    assert fields["answer_kind"] == "caption" and fields["sequence"] == ["p4", "p5"]
    assert fields["scores"] == {"log_prob": round(math.log(0.1125), 6)}
    assert fields["target_tokens"] == ["p4", "p5", f"p{EOS}"]
    assert fields["attention"] == [[0.5, 0.25, 0.25], [0.123457, 0.876543, 0.0], [1.0, 0.0, 0.0]]
    lean = output_fields(hyp, eos=EOS, pieces=pieces, detokenize=" ".join, answer_kind="caption", source_size=3)
    assert list(lean) == ["answer", "answer_kind", "sequence", "scores"]
    empty = output_fields(Hypothesis([], 0.0, torch.zeros(0, 4)), eos=EOS, pieces=pieces, detokenize=" ".join,
                          answer_kind="caption", source_size=3, attention=True)
    assert empty["answer"] == {"label": "", "probability": 1.0} and empty["attention"] == []


def test_teacher_forced_inputs():
    got = teacher_forced_inputs([[3, 4, EOS], [5], []], bos=BOS, pad=PAD)
    assert got.dtype == torch.long
    assert got.tolist() == [[BOS, 3, 4], [BOS, PAD, PAD], [PAD, PAD, PAD]]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_alternatives_are_what_each_search_step_scored(beam_size):
    """Per output token, k alternatives best first; the chosen token's probability among them is exp of the
    log-prob its step gave it during search (stepping the decoder along the chosen tokens), and with greedy
    it is the first alternative."""
    model = Model()
    hyps = generate(model, {}, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=1.0, max_len_b=2)
    outputs = [h.tokens for h in hyps]
    calls = []

    def forward(targets_in):
        calls.append(targets_in)
        return model({}, targets_in)

    alts = alternatives(forward, outputs, bos=BOS, pad=PAD, pieces=pieces, k=V)
    assert len(calls) == 1 and calls[0].shape == (3, max(len(o) for o in outputs))  # one pass for all outputs
    assert len(alts) == len(outputs)
    # the step log-probs of the chosen tokens, by stepping the decoder as search did
    state, memory, _ = model.start({})
    for b, out in enumerate(outputs):
        assert len(alts[b]) == len(out) and all(len(row) == V for row in alts[b])
        s, m = tuple(t.index_select(1, torch.tensor([b])) for t in state), memory.select_rows([b])
        y, total = torch.tensor([BOS]), 0.0
        for t, token in enumerate(out):
            with torch.no_grad():
                log_probs, s, _ = model.decoder.step(y, s, m)
            step_lp = float(log_probs[0, token])
            total += step_lp
            probs = [a["probability"] for a in alts[b][t]]
            assert probs == sorted(probs, reverse=True)
            (chosen,) = [a for a in alts[b][t] if a["label"] == f"p{token}"]
            assert chosen["probability"] == pytest.approx(math.exp(step_lp), abs=2e-6)
            if beam_size == 1:
                assert alts[b][t][0]["label"] == f"p{token}"
            y = torch.tensor([token])
        assert total == pytest.approx(hyps[b].score, abs=1e-5)


def test_alternatives_top_k_and_empty_outputs():
    model = Model()
    alts = alternatives(lambda t: model({}, t), [[3, EOS], [4], [EOS]], bos=BOS, pad=PAD, pieces=pieces, k=2)
    assert [len(a) for a in alts] == [2, 1, 1] and all(len(row) == 2 for a in alts for row in a)
    assert all(0.0 <= x["probability"] <= 1.0 for a in alts for row in a for x in row)

    def never(targets_in):
        raise AssertionError("no pass is needed for empty outputs")

    assert alternatives(never, [[], []], bos=BOS, pad=PAD, pieces=pieces, k=3) == [[], []]
