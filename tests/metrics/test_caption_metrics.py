"""metrics.caption: the COCO caption scorers over rnnlab's tokenisation."""
from __future__ import annotations

import shutil

import pytest

from rnnlab.metrics.caption import caption_scores, caption_words


def test_words_are_lowercased_without_punctuation():
    assert caption_words("A dog , running (fast) !") == "a dog running fast"
    assert caption_words("The dog's T-shirt .") == "the dog's t-shirt"
    assert caption_words(" - ' . ") == ""


def test_a_perfect_caption_scores_one_and_a_wrong_one_zero():
    refs = [["a dog runs on the grass .", "a brown dog is running"], ["a man rides a red bike", "a cyclist"]]
    perfect = caption_scores(["A dog runs on the grass", "a man rides a red bike ."], refs)
    assert all(perfect[f"bleu{n}"] == pytest.approx(1.0, abs=1e-6) for n in range(1, 5))
    wrong = caption_scores(["zebra zebra zebra", "yellow yellow"], refs)
    assert wrong["bleu1"] < 1e-6 and wrong["cider"] == 0.0


def test_the_figures_are_pycocoevalcaps_on_the_tokenised_text():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    hyps = ["a dog runs", "two men ride bikes on a road", "a child plays"]
    refs = [["a dog is running .", "the dog runs"], ["two men are riding bicycles on the road"],
            ["a child is playing in the park", "a kid plays"]]
    gts = {i: [caption_words(r) for r in rs] for i, rs in enumerate(refs)}
    res = {i: [caption_words(h)] for i, h in enumerate(hyps)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    got = caption_scores(hyps, refs)
    assert [got[f"bleu{n}"] for n in range(1, 5)] == pytest.approx(bleu)
    assert got["cider"] == pytest.approx(cider) and 0 < got["bleu1"] < 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        caption_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        caption_scores(["a"], [[]])
    with pytest.raises(ValueError, match="no captions"):
        caption_scores([], [])


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR 1.5 runs in Java; no java on this machine")
def test_meteor_runs_offline_where_java_is():
    scores = caption_scores(["a dog runs on the grass"], [["a dog runs on the grass", "a dog"]], meteor=True)
    assert 0.9 < scores["meteor"] <= 1.0


def test_meteor_says_why_without_java(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    scores = caption_scores(["a dog"], [["a dog"]], meteor=True)
    assert "meteor" not in scores and "java not found" in scores["meteor_error"]
