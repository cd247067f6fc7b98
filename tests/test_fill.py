"""rnnlab.fill on a toy corpus where only the words AFTER the blank decide it:
"the cat drinks milk" / "the dog chews bones" -> "the ___ drinks milk" is cat, "the ___ chews bones" dog."""
from __future__ import annotations

import pytest

from rnnlab.errors import BundleError, UserError
from rnnlab.fill import fill, load_fill, split_blank


def probs(result):
    return {c["word"]: c["probability"] for c in result["candidates"]}


def test_left_context_alone_cannot_decide(fill_dir):
    models = load_fill(fill_dir)
    p = probs(fill(models, "the ___ drinks milk", k=20, method="left"))
    assert 0.15 < p["cat"] < 0.85 and 0.15 < p["dog"] < 0.85  # after "the": cat or dog, undecided
    assert sum(p.values()) <= 1 + 1e-6


@pytest.mark.parametrize("method", ["exact", "exact2", "product", "right"])
def test_both_sides_find_the_word(fill_dir, method):
    models = load_fill(fill_dir)
    for text, word in (("the ___ drinks milk", "cat"), ("the ___ chews bones", "dog"),
                       ("a dog ___ sticks", "chews"), ("a ___ chews sticks", "dog")):
        result = fill(models, text, k=5, method=method, n_candidates=10)
        p = probs(result)
        assert result["candidates"][0]["word"] == word, (text, method, p)
        assert p[word] > 0.8
        assert sum(p.values()) <= 1 + 1e-6
        assert all(c["word"] not in ("<unk>", "<eos>") for c in result["candidates"])


def test_forward_bundle_alone_supports_left_and_exact(fill_dir):
    models = load_fill(fill_dir / "forward")
    assert models.methods() == ["left", "exact"]
    assert fill(models, "The ___ drinks milk")["candidates"][0]["word"] == "cat"  # "The" -> the
    with pytest.raises(UserError, match="not available"):
        fill(models, "the ___ drinks milk", method="product")


def test_input_errors(fill_dir):
    assert split_blank("a ___ b c") == (["a"], ["b", "c"])
    for bad in ("no blank here", "two ___ blanks ___", "   "):
        with pytest.raises(UserError):
            split_blank(bad)
    with pytest.raises(BundleError, match="left-to-right"):
        load_fill(fill_dir / "backward")
