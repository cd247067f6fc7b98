"""rnnlab.generate: streaming sampling with temperature, top-k and a seed."""
from __future__ import annotations

import types

import pytest

import rnnlab
from rnnlab.errors import UserError
from rnnlab.generate import generate, sample_text


def test_same_seed_same_text_and_streaming(char_bundle):
    pred = rnnlab.load(char_bundle)
    pieces = generate(pred, "ROMEO:", 60, temperature=0.8, top_k=10, seed=1)
    assert isinstance(pieces, types.GeneratorType)  # tokens come one at a time, as sampled
    first = next(pieces)
    assert len(first) == 1
    text = first + "".join(pieces)
    assert len(text) == 60
    again = sample_text(pred, "ROMEO:", 60, temperature=0.8, top_k=10, seed=1)
    assert again == "ROMEO:" + text
    others = {sample_text(pred, "ROMEO:", 60, temperature=1.5, seed=s) for s in range(2, 6)}
    assert len(others) > 1  # different seeds, different text


def test_greedy_continues_the_memorised_line(char_bundle):
    pred = rnnlab.load(char_bundle)
    # temperature 0 = the most likely character each time: the tiny model has learned its two lines
    assert sample_text(pred, "JULIET: O Rom", 10, temperature=0) == "JULIET: O Romeo, Romeo,"
    assert "<unk>" not in sample_text(pred, "zzz", 50, temperature=2.0, seed=0)  # never samples <unk>


def test_bad_arguments_are_user_errors(char_bundle, fill_dir):
    pred = rnnlab.load(char_bundle)
    with pytest.raises(UserError, match="temperature"):
        next(generate(pred, "a", 5, temperature=-1))
    with pytest.raises(UserError, match="right-to-left"):
        next(generate(rnnlab.load(fill_dir / "backward"), "the", 5))
    words = sample_text(rnnlab.load(fill_dir / "forward"), "", 12, temperature=0)
    assert words.splitlines()[0] in {"the cat drinks milk", "the dog chews bones", "a cat drinks water",
                                     "a dog chews sticks"}
