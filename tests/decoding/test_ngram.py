"""rnnlab.decoding.ngram.WordNgram: every conditional distribution sums to one over the vocabulary, </s>
and <unk>; Kneser-Ney's continuation counts at the unigram level; the closed form at order 1; JSON round
trips exactly and rejects malformed content; training text is likelier than its words shuffled."""
import json
import math
import random

import pytest

from rnnlab.decoding.ngram import WordNgram

CORPUS = [s.split() for s in [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat on the mat",
    "a dog sat",
    "the cat ate",
]]


def total_mass(lm: WordNgram, context) -> float:
    words = lm.vocabulary() + ["<unk>"]
    return sum(math.exp(lm.logprob(w, context)) for w in words) + math.exp(lm.end_logprob(context))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("discount", [0.75, 0.4, 1.0])
def test_every_distribution_sums_to_one(order, discount):
    lm = WordNgram.fit(CORPUS, order=order, discount=discount)
    for context in [[], ["the"], ["the", "cat"], ["cat", "the"], ["sat", "on"], ["zebra"], ["the", "zebra"],
                    ["on", "the", "mat"], ["<s>"]]:
        assert total_mass(lm, context) == pytest.approx(1.0, abs=1e-9), context


def test_vocabulary_and_unknown_words():
    lm = WordNgram.fit(CORPUS)
    assert lm.vocabulary() == sorted({w for s in CORPUS for w in s})
    assert lm.logprob("zebra", ["the"]) == lm.logprob("yak", ["the"]) == lm.logprob("<unk>", ["the"])
    assert -math.inf < lm.logprob("zebra", ["the"]) < lm.logprob("cat", ["the"])
    assert lm.logprob("cat", ["zebra"]) == lm.logprob("cat", ["<unk>"])  # unknown context words too


def test_kneser_ney_prefers_continuation_diverse_words():
    # "francisco" is frequent but only ever after "san"; "glasses" rarer but after many words
    sentences = [["san", "francisco"]] * 6 + [[w, "glasses"] for w in ["my", "his", "her", "red", "old"]]
    lm = WordNgram.fit(sentences, order=2)
    # after a context never seen, p_2 is the unigram level: continuation counts, not frequencies
    assert lm.logprob("glasses", ["zebra"]) > lm.logprob("francisco", ["zebra"])
    assert lm.logprob("francisco", ["san"]) > lm.logprob("glasses", ["san"])


def test_order_one_closed_form():
    sentences = [["a", "b", "a"], ["a"]]
    d = 0.5
    lm = WordNgram.fit(sentences, order=1, discount=d)
    # raw counts a: 3, b: 1, </s>: 2 (N = 6, 3 types); V' = {a, b, </s>, <unk>}
    uniform = 1 / 4

    def expected(c):
        return (c - d) / 6 + d * 3 / 6 * uniform

    assert math.exp(lm.logprob("a", [])) == pytest.approx(expected(3))
    assert math.exp(lm.logprob("b", ["a", "b"])) == pytest.approx(expected(1))  # order 1 ignores the context
    assert math.exp(lm.end_logprob([])) == pytest.approx(expected(2))
    assert math.exp(lm.logprob("zzz", [])) == pytest.approx(d * 3 / 6 * uniform)


def test_sentence_start_is_implied_by_a_short_context():
    lm = WordNgram.fit(CORPUS, order=3)
    assert lm.logprob("cat", ["the"]) == lm.logprob("cat", ["<s>", "the"])
    # sentences start with "the" or "a" only
    assert lm.logprob("the", []) > lm.logprob("cat", [])


def test_sentence_logprob_and_perplexity():
    lm = WordNgram.fit(CORPUS, order=3)
    words = CORPUS[0]
    expected = sum(lm.logprob(w, words[:i]) for i, w in enumerate(words)) + lm.end_logprob(words)
    assert lm.sentence_logprob(words) == pytest.approx(expected)
    tokens = sum(len(s) + 1 for s in CORPUS)
    assert lm.perplexity(CORPUS) == pytest.approx(math.exp(-sum(map(lm.sentence_logprob, CORPUS)) / tokens))
    rng = random.Random(0)
    shuffled = [rng.sample(s, len(s)) for s in CORPUS]
    assert lm.perplexity(CORPUS) < lm.perplexity(shuffled)
    with pytest.raises(ValueError):
        lm.perplexity([])


def test_json_round_trip_gives_identical_logprobs():
    lm = WordNgram.fit(CORPUS, order=3, discount=0.6)
    text = json.dumps(lm.to_json())
    again = WordNgram.from_json(json.loads(text))
    assert again.order == 3 and again.discount == 0.6 and again.vocabulary() == lm.vocabulary()
    for context in [[], ["the"], ["the", "cat"], ["zebra", "on"]]:
        for w in lm.vocabulary() + ["zebra"]:
            assert again.logprob(w, context) == lm.logprob(w, context)
        assert again.end_logprob(context) == lm.end_logprob(context)


@pytest.mark.parametrize("mangle", [
    lambda d: d.update(format="something"),
    lambda d: d.pop("counts"),
    lambda d: d.update(order=0),
    lambda d: d.update(discount=1.5),
    lambda d: d["counts"].pop(),
    lambda d: d["counts"][1].append([["a"], 1]),  # a unigram among the bigrams
    lambda d: d["counts"][0].append([["a"], -2]),
    lambda d: d["counts"][0].append([[3], 1]),
    lambda d: d["counts"][0].append("a 1"),
    lambda d: d.update(counts=[[[["</s>"], 1]], [], []]),  # no words
])
def test_from_json_rejects_malformed_content(mangle):
    d = WordNgram.fit(CORPUS).to_json()
    mangle(d)
    with pytest.raises(ValueError):
        WordNgram.from_json(d)


def test_bad_training_data_and_settings():
    with pytest.raises(ValueError):
        WordNgram.fit([])
    with pytest.raises(ValueError):
        WordNgram.fit([[], []])
    with pytest.raises(ValueError):
        WordNgram.fit([["a", "</s>"]])
    with pytest.raises(ValueError):
        WordNgram(order=0)
    with pytest.raises(ValueError):
        WordNgram(discount=0.0)
