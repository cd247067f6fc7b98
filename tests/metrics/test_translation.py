"""Translation metrics: sacreBLEU corpus BLEU (cased and lowercased) and chrF against hand-computed values."""
import math

import pytest

from rnnlab.metrics.translation import corpus_scores

REFS = ["A man in a blue shirt is standing on a ladder.", "Two dogs play in the snow."]


def test_identical_text_scores_100():
    s = corpus_scores(REFS, REFS)
    assert s["bleu"] == pytest.approx(100) and s["bleu_lowercase"] == pytest.approx(100)
    assert s["chrf"] == pytest.approx(100) and s["brevity_penalty"] == 1.0 and s["length_ratio"] == 1.0


def test_signatures_say_how_each_figure_was_made():
    s = corpus_scores(REFS, REFS)
    assert s["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.")
    assert s["bleu_lowercase_signature"].startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.")
    assert s["chrf_signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.")
    assert all(isinstance(s[k], float) for k in ("bleu", "bleu_lowercase", "chrf", "brevity_penalty"))


def test_bleu_by_hand():
    # hyp "the cat sat on the mat", ref "the cat sat on a mat": clipped n-gram precisions 5/6, 3/5, 2/4, 1/3,
    # equal lengths (BP 1): BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** (1/4)
    s = corpus_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert s["bleu"] == pytest.approx(100 * (1 / 12) ** 0.25)  # 53.73
    # every n-gram right but 4 of 6 words: BP = exp(1 - 6/4)
    s = corpus_scores(["the cat sat on"], ["the cat sat on the mat"])
    assert s["bleu"] == pytest.approx(100 * math.exp(-0.5)) and s["brevity_penalty"] == pytest.approx(math.exp(-0.5))
    assert s["length_ratio"] == pytest.approx(4 / 6)


def test_bleu_is_over_the_corpus_not_a_mean_of_sentences():
    # n-gram counts are summed over sentences first: 4 + 6 hypothesis words against 6 + 6
    s = corpus_scores(["the cat sat on", "the cat sat on the mat"], ["the cat sat on the mat"] * 2)
    assert s["brevity_penalty"] == pytest.approx(math.exp(1 - 12 / 10))
    p = [10 / 10, 8 / 8, 6 / 6, 4 / 4]
    assert s["bleu"] == pytest.approx(100 * math.exp(1 - 12 / 10) * math.prod(p) ** 0.25)


def test_chrf_by_hand():
    # characters of "ab" against "abc": unigrams P 2/2 R 2/3, bigrams P 1/1 R 1/2; longer orders have no
    # hypothesis n-grams and are left out (sacreBLEU's effective order). Mean P 1, mean R 7/12;
    # chrF2 = 5 P R / (4 P + R) = 7/11
    assert corpus_scores(["ab"], ["abc"])["chrf"] == pytest.approx(100 * 7 / 11)


def test_13a_tokenises_the_raw_text_itself():
    # detokenised output and raw references: 13a splits the punctuation off both, so spacing does not matter
    assert corpus_scores(["Two dogs play in the snow ."], ["Two dogs play in the snow."])["bleu"] == pytest.approx(100)


def test_lowercase_figure_ignores_case():
    hyps = ["a Man in a Blue shirt is standing on a ladder.", "TWO DOGS play in the snow."]
    s = corpus_scores(hyps, REFS)
    assert s["bleu_lowercase"] == pytest.approx(100)
    assert s["bleu"] < s["bleu_lowercase"]


def test_mismatched_or_bad_input_raises():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no sentences"):
        corpus_scores([], [])
    with pytest.raises(TypeError, match=r"hypotheses\[1\] is list"):
        corpus_scores(["a", ["b"]], ["a", "b"])


def test_moses_figure_is_multi_bleu_on_moses_tokens():
    # Moses splits the clitic ('s) off, 13a keeps "dog's" whole: the two lowercased figures differ by that alone
    from sacrebleu.metrics import BLEU

    hyp, ref = ["The dog's ball."], ["the dog's red ball."]
    s = corpus_scores(hyp, ref, moses_lang="en")
    by_hand = BLEU(tokenize="none", lowercase=True, force=True).corpus_score(["the dog 's ball ."],
                                                                             [["the dog 's red ball ."]]).score
    assert s["bleu_moses_lowercase"] == pytest.approx(by_hand)
    assert s["bleu_lowercase"] == pytest.approx(
        BLEU(tokenize="none").corpus_score(["the dog's ball ."], [["the dog's red ball ."]]).score)
    assert s["bleu_moses_lowercase"] != pytest.approx(s["bleu_lowercase"])
    signature = s["bleu_moses_lowercase_signature"]
    assert signature.startswith("moses-en|") and "tok:none" in signature
    german = corpus_scores(["Ein Mann fährt Fahrrad."], ["ein mann fährt fahrrad."], moses_lang="de")
    assert german["bleu_moses_lowercase"] == pytest.approx(100)
    assert "bleu_moses_lowercase" not in corpus_scores(hyp, ref)  # training's validation does not pay for it
