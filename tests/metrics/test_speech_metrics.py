"""rnnlab.metrics.speech: WER and CER on hand examples, corpus-level (errors summed, not rates averaged),
the same as jiwer's on ordinary text, and defined for empty hypotheses and references."""
import jiwer
import pytest

from rnnlab.metrics.speech import cer, error_counts, wer


def test_hand_examples():
    assert wer(["a b c"], ["a x c"]) == pytest.approx(1 / 3)
    assert cer(["abc"], ["abd"]) == pytest.approx(1 / 3)
    assert wer(["a b c"], ["a b c"]) == 0.0
    assert wer(["a b"], ["a b c d"]) == pytest.approx(1.0)  # two insertions over two words
    assert error_counts(["a b c d", "a b c"], ["a x c", "a x c d"]) == {
        "substitutions": 2, "deletions": 1, "insertions": 1, "hits": 4, "reference_words": 7}


def test_corpus_rate_sums_errors():
    # 1 error in 1 word + 0 errors in 3 words: 1/4, not the mean of 1 and 0
    assert wer(["a", "b c d"], ["x", "b c d"]) == pytest.approx(1 / 4)


def test_matches_jiwer_on_ordinary_text():
    refs = ["the cat sat on the mat", "hello world", "speech is hard"]
    hyps = ["the cat sat the mat", "hello word", "speech is very hard"]
    assert wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    assert cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps))


def test_empty_hypotheses_are_all_deletions():
    assert wer(["a b c"], [""]) == 1.0
    assert cer(["ab c"], [""]) == 1.0
    assert error_counts(["a b c", "d e"], ["", "d e"]) == {
        "substitutions": 0, "deletions": 3, "insertions": 0, "hits": 2, "reference_words": 5}
    assert wer(["a b c", "d e"], ["  ", "d x"]) == pytest.approx(4 / 5)


def test_empty_references_count_insertions():
    assert error_counts(["", "a"], ["x y", "a"]) == {
        "substitutions": 0, "deletions": 0, "insertions": 2, "hits": 1, "reference_words": 1}
    with pytest.raises(ValueError, match="no words"):
        wer([""], ["a"])


def test_mismatched_lengths():
    with pytest.raises(ValueError):
        wer(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        cer(["a"], [])
    with pytest.raises(ValueError):
        error_counts([], ["a"])
