"""rnnlab.decoding.ctc: greedy is the collapsed best path; prefix beam search scores a labelling by all its
alignments (checked against torch's CTC loss and, on tiny inputs, against brute force over every path),
merges repeats only without a blank between, keeps to the lexicon, and lets a word LM decide between
close spellings; forced alignment is the best path of the known labelling; word timings read off it."""
import itertools
import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.decoding.ctc import (
    Lexicon,
    best_path,
    decode,
    decoder_options,
    forced_align,
    greedy,
    prefix_beam_search,
    transcript,
    word_timings,
)
from rnnlab.decoding.ngram import WordNgram

BLANK = 0


def log_softmax(x: np.ndarray) -> np.ndarray:
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)


def random_log_probs(T: int, V: int, seed: int, scale: float = 2.0) -> np.ndarray:
    return log_softmax(np.random.default_rng(seed).normal(size=(T, V)) * scale)


def from_probs(rows) -> np.ndarray:
    """(T, V) log-probs from hand-written probability rows (each normalised)."""
    p = np.asarray(rows, dtype=np.float64)
    return np.log(p / p.sum(axis=1, keepdims=True))


def ctc_logprob(log_probs: np.ndarray, ids) -> float:
    """log p_ctc(ids | x) from torch's CTC loss (summed over all alignments)."""
    lp = torch.from_numpy(np.asarray(log_probs, dtype=np.float64)).unsqueeze(1)  # (T, 1, V)
    target = torch.tensor([list(ids)], dtype=torch.long)
    loss = torch.nn.functional.ctc_loss(lp, target, torch.tensor([lp.shape[0]]), torch.tensor([len(ids)]),
                                        blank=BLANK, reduction="none", zero_infinity=False)
    return -float(loss[0])


def collapse(path) -> tuple[int, ...]:
    out, previous = [], None
    for s in path:
        if s != previous and s != BLANK:
            out.append(s)
        previous = s
    return tuple(out)


def brute_force(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every labelling's log-probability: all V^T paths, collapsed and summed."""
    T, V = log_probs.shape
    scores: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(V), repeat=T):
        scores.setdefault(collapse(path), []).append(sum(log_probs[t, s] for t, s in enumerate(path)))
    return {y: float(np.logaddexp.reduce(v)) for y, v in scores.items()}


# ----- greedy -----

def test_greedy_is_the_collapsed_best_path():
    lp = random_log_probs(50, 6, seed=1)
    path = best_path(lp)
    assert path.shape == (50,) and path.dtype == np.int64
    assert np.array_equal(path, lp.argmax(axis=1))
    assert greedy(lp) == list(collapse(path.tolist()))


def test_greedy_keeps_a_repeat_with_a_blank_between_and_merges_one_without():
    a = 1
    between = from_probs([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])  # a _ a
    assert greedy(between) == [a, a]
    merged = from_probs([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])  # a a _
    assert greedy(merged) == [a]


# ----- prefix beam search: the acoustic score -----

def test_acoustic_is_the_ctc_log_probability():
    lp = random_log_probs(10, 4, seed=2)
    hyps = prefix_beam_search(lp, beam=1000, prune=-math.inf, n_best=8)  # wide enough to drop no prefix
    assert len(hyps) == 8
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    for h in hyps:
        assert h.acoustic == pytest.approx(ctc_logprob(lp, h.ids), abs=1e-6)
        assert h.score == h.acoustic and h.lm == 0.0


def test_a_narrow_beam_never_overstates_the_acoustic_score():
    lp = random_log_probs(40, 6, seed=3)
    for h in prefix_beam_search(lp, beam=4, n_best=4):
        assert h.acoustic <= ctc_logprob(lp, h.ids) + 1e-9


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 5), V=st.integers(2, 3), seed=st.integers(0, 10_000), scale=st.sampled_from([0.5, 2.0, 5.0]))
def test_wide_beam_without_pruning_is_brute_force(T, V, seed, scale):
    lp = random_log_probs(T, V, seed, scale)
    exact = brute_force(lp)
    hyps = prefix_beam_search(lp, beam=len(exact) + 1, prune=-math.inf, n_best=len(exact))
    assert len(hyps) == len(exact)  # every labelling reachable in T frames, each once
    best = max(exact.values())
    assert hyps[0].acoustic == pytest.approx(best, abs=1e-9)
    assert exact[tuple(hyps[0].ids)] == pytest.approx(best, abs=1e-9)
    for h in hyps:
        assert h.acoustic == pytest.approx(exact[tuple(h.ids)], abs=1e-9)


def test_repeated_symbol_needs_a_blank_between():
    a = 1
    # two frames of a: "aa" would need a blank between them, so only "a" (and "") can be the answer
    lp = from_probs([[0.05, 0.95], [0.05, 0.95]])
    hyps = prefix_beam_search(lp, beam=8, prune=-math.inf, n_best=8)
    assert hyps[0].ids == [a]
    assert all(h.ids != [a, a] for h in hyps)
    assert hyps[0].acoustic == pytest.approx(ctc_logprob(lp, [a]), abs=1e-9)
    # a _ a: "aa" is the likelier labelling, and its score is the sum over its alignments
    lp = from_probs([[0.05, 0.95], [0.9, 0.1], [0.05, 0.95]])
    best = prefix_beam_search(lp, beam=8, prune=-math.inf)[0]
    assert best.ids == [a, a]
    assert best.acoustic == pytest.approx(ctc_logprob(lp, [a, a]), abs=1e-9)


def test_pruning_keeps_the_best_symbol():
    lp = random_log_probs(20, 5, seed=4)
    hyps = prefix_beam_search(lp, prune=0.5)  # every symbol under the threshold: only the best is tried
    assert hyps[0].ids == greedy(lp)


def test_speed_of_a_realistic_utterance():
    lp = random_log_probs(300, 30, seed=5, scale=6.0).astype(np.float32)
    start = time.perf_counter()
    prefix_beam_search(lp, beam=16)
    assert time.perf_counter() - start < 3.0  # about 0.1 s; generous for a busy machine


# ----- words, the lexicon and the LM -----

SYMBOLS = ["_", " ", "a", "b", "c", "k", "t"]
SPACE, A, B, C, K, TT = 1, 2, 3, 4, 5, 6


def words_of(ids) -> list[str]:
    return "".join(SYMBOLS[s] for s in ids).split(" ")


def test_never_a_leading_or_double_space():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, len(SYMBOLS)))
    x[:, SPACE] += 2.0  # spaces are the likeliest symbol everywhere
    hyps = prefix_beam_search(log_softmax(x), space=SPACE, n_best=10)
    for h in hyps:
        assert not h.ids or h.ids[0] != SPACE
        assert all(not (p == SPACE and q == SPACE) for p, q in zip(h.ids, h.ids[1:]))


def test_words_need_a_space_id():
    lp = random_log_probs(5, len(SYMBOLS), seed=7)
    lexicon = Lexicon([[A, B]])
    with pytest.raises(ValueError, match="space"):
        prefix_beam_search(lp, lexicon=lexicon, symbols=SYMBOLS)
    with pytest.raises(ValueError, match="symbols"):
        prefix_beam_search(lp, space=SPACE, lexicon=lexicon)
    with pytest.raises(ValueError, match="space"):
        prefix_beam_search(lp, space=BLANK)


def test_lexicon_trie():
    lexicon = Lexicon([[A, B], [A, B, C], [C]])
    assert len(lexicon) == 3
    assert lexicon.is_prefix([]) and lexicon.is_prefix([A]) and lexicon.is_prefix([A, B, C])
    assert not lexicon.is_prefix([B]) and not lexicon.is_prefix([A, C])
    assert lexicon.is_word([A, B]) and lexicon.is_word([C])
    assert not lexicon.is_word([A]) and not lexicon.is_word([])


def test_lexicon_keeps_the_search_to_its_words():
    # acoustically "ac" beats "ab" (0.55 vs 0.45 on the second symbol); only "ab" is a word
    lp = from_probs([[0.02, 0.01, 0.95, 0.005, 0.005, 0.005, 0.005],
                     [0.02, 0.01, 0.01, 0.44, 0.51, 0.005, 0.005]])
    assert prefix_beam_search(lp, space=SPACE)[0].ids == [A, C]
    lexicon = Lexicon([[A, B], [C]])
    hyps = prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, n_best=5)
    assert hyps[0].ids == [A, B]
    for h in hyps:
        assert all(w in ("ab", "c", "") for w in words_of(h.ids))


@pytest.mark.parametrize("seed", [8, 9, 10])
def test_lexicon_words_only_on_random_frames(seed):
    lp = random_log_probs(25, len(SYMBOLS), seed=seed)
    lexicon = Lexicon([[A, B], [C], [K, A, TT]])
    for h in prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, n_best=5):
        assert all(w in ("ab", "c", "kat", "") for w in words_of(h.ids))


def test_lexicon_falls_back_when_no_word_can_be_finished():
    lp = from_probs([[0.01, 0.01, 0.95, 0.01, 0.01, 0.005, 0.005]])  # one frame: "b" cannot follow "a"
    lexicon = Lexicon([[A, B]])
    # with beam 1 the empty hypothesis (a complete one) is gone and "a" is no word: the fallback cuts the
    # unfinished word off rather than answer a non-word
    hyps = prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, beam=1)
    assert hyps and hyps[0].ids == []
    # with a wider beam the empty labelling counts (its last word is empty) and wins over "a"
    assert prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, beam=4)[0].ids == []


def test_lexicon_fallback_keeps_the_finished_words():
    # "c a": the last frame starts "ab" but never finishes it; with beam 1 only that prefix survives
    lp = from_probs([[0.01, 0.01, 0.01, 0.01, 0.95, 0.005, 0.005],
                     [0.01, 0.95, 0.01, 0.01, 0.01, 0.005, 0.005],
                     [0.01, 0.01, 0.95, 0.01, 0.01, 0.005, 0.005]])
    lexicon = Lexicon([[A, B], [C]])
    hyps = prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, beam=1)
    assert hyps[0].ids == [C]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(1, 30), beam=st.integers(1, 8),
       scale=st.floats(0.5, 6.0))
def test_lexicon_constrained_search_emits_only_lexicon_words(seed, T, beam, scale):
    """Whatever the frames and the beam (even beam 1, where every complete hypothesis may be pruned), every
    word of every answer is a lexicon word: no unfinished spelling, no empty word (a final space, which
    `transcript` drops, is the one space not between two words)."""
    lp = random_log_probs(T, len(SYMBOLS), seed=seed, scale=scale)
    lexicon = Lexicon([[A, B], [C], [K, A, TT]])
    hyps = prefix_beam_search(lp, space=SPACE, lexicon=lexicon, symbols=SYMBOLS, beam=beam, n_best=3)
    assert hyps
    for h in hyps:
        text = "".join(" " if s == SPACE else SYMBOLS[s] for s in h.ids)
        assert not text.startswith(" ") and "  " not in text
        assert all(w in ("ab", "c", "kat") for w in text.split())


def spelling_frames(first_c: float) -> np.ndarray:
    """c|k a t: the first frame says c with first_c, k with the rest of 0.9."""
    return from_probs([[0.05, 0.01, 0.01, 0.01, first_c, 0.9 - first_c, 0.01],
                       [0.05, 0.01, 0.9, 0.01, 0.01, 0.01, 0.01],
                       [0.05, 0.01, 0.01, 0.01, 0.01, 0.01, 0.9]])


def test_a_word_lm_decides_between_close_spellings():
    lp = spelling_frames(0.5)  # "cat" 0.5, "kat" 0.4
    assert prefix_beam_search(lp, space=SPACE)[0].ids == [C, A, TT]
    lm = WordNgram.fit([["kat"], ["kat", "kat"], ["a", "kat"]], order=2)
    best = prefix_beam_search(lp, space=SPACE, lm=lm, alpha=1.0, symbols=SYMBOLS)[0]
    assert best.ids == [K, A, TT]
    assert best.lm == pytest.approx(lm.sentence_logprob(["kat"]), abs=1e-9)
    assert best.score == pytest.approx(best.acoustic + 1.0 * best.lm + 1.0 * 1, abs=1e-9)


class CountingLM:
    """Prefers "kat" after anything; counts its calls to check the cache."""

    order = 2

    def __init__(self):
        self.calls = []

    def logprob(self, word, context):
        self.calls.append((word, tuple(context)))
        return math.log(0.6) if word == "kat" else math.log(0.1)

    def end_logprob(self, context):
        self.calls.append((None, tuple(context)))
        return math.log(0.3)


def test_score_is_acoustic_plus_weighted_lm_plus_word_bonus():
    lm = CountingLM()
    lp = np.concatenate([spelling_frames(0.45), from_probs([[0.1, 0.8, 0.02, 0.02, 0.02, 0.02, 0.02]]),
                         spelling_frames(0.45)])  # "?at ?at"
    hyps = prefix_beam_search(lp, space=SPACE, lm=lm, alpha=0.7, beta=0.3, symbols=SYMBOLS, n_best=4)
    assert hyps[0].ids == [K, A, TT, SPACE, K, A, TT]
    assert hyps[0].lm == pytest.approx(2 * math.log(0.6) + math.log(0.3))
    for h in hyps:
        n_words = len([w for w in words_of(h.ids) if w])
        assert h.score == pytest.approx(h.acoustic + 0.7 * h.lm + 0.3 * n_words, abs=1e-9)
        assert h.acoustic == pytest.approx(ctc_logprob(lp, h.ids), abs=1e-6)
    assert len(lm.calls) == len(set(lm.calls))  # cached per (word, context)
    assert all(len(context) <= 1 for _, context in lm.calls)  # cut to the LM's order - 1 words


# ----- forced alignment -----

def path_score(log_probs: np.ndarray, spans) -> float:
    """The score of the path the spans stand for: symbols inside them, blanks elsewhere."""
    T = log_probs.shape[0]
    emitted = np.full(T, BLANK)
    for s, (first, last) in spans:
        emitted[first:last + 1] = s
    return float(log_probs[np.arange(T), emitted].sum())


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_forced_align_is_monotonic_and_bounded_by_the_ctc_score(seed):
    rng = np.random.default_rng(seed)
    lp = random_log_probs(40, 6, seed=seed)
    ids = rng.integers(1, 6, size=12).tolist()
    ids[3] = ids[4]  # at least one repeat
    spans = forced_align(lp, ids)
    assert len(spans) == len(ids)
    assert spans[0][0] >= 0 and spans[-1][1] < 40
    for (first, last), (next_first, _) in zip(spans, spans[1:]):
        assert first <= last < next_first
    assert spans[4][0] > spans[3][1] + 1  # a blank between the repeat
    assert path_score(lp, zip(ids, spans)) <= ctc_logprob(lp, ids) + 1e-9


@settings(max_examples=20, deadline=None)
@given(T=st.integers(2, 5), seed=st.integers(0, 10_000), ids=st.lists(st.integers(1, 2), min_size=1, max_size=3))
def test_forced_align_is_the_best_path_of_the_labelling(T, seed, ids):
    lp = random_log_probs(T, 3, seed)
    repeats = sum(a == b for a, b in zip(ids, ids[1:]))
    if T < len(ids) + repeats:
        with pytest.raises(ValueError, match="frames"):
            forced_align(lp, ids)
        return
    best = max(sum(lp[t, s] for t, s in enumerate(path))
               for path in itertools.product(range(3), repeat=T) if collapse(path) == tuple(ids))
    assert path_score(lp, zip(ids, forced_align(lp, ids))) == pytest.approx(best, abs=1e-9)


def test_forced_align_rejects_too_few_frames_and_bad_ids():
    lp = random_log_probs(2, 3, seed=14)
    assert len(forced_align(lp, [1, 2])) == 2
    with pytest.raises(ValueError):
        forced_align(lp, [1, 1])  # needs 3 frames: a _ a
    with pytest.raises(ValueError):
        forced_align(lp, [1, 2, 1])
    with pytest.raises(ValueError):
        forced_align(lp, [0])
    assert forced_align(lp, []) == []


def test_word_timings_on_a_hand_made_path():
    symbols = ["_", " ", "E", "N", "O", "S", "Y"]
    path = "__YYES__ _NNO__"  # frames 0..14
    ids = [symbols.index(c) for c in "YES NO"]
    rows = np.full((len(path), len(symbols)), 0.01)
    for t, c in enumerate(path):
        rows[t, symbols.index(c)] = 0.9
    lp = from_probs(rows)
    spans = forced_align(lp, ids)
    assert spans == [(2, 3), (4, 4), (5, 5), (8, 8), (10, 11), (12, 12)]
    timings = word_timings(lp, ids, space=1, symbols=symbols, frame_seconds=0.02)
    assert timings == [{"word": "YES", "start": 0.04, "end": 0.12}, {"word": "NO", "start": 0.2, "end": 0.26}]


# ---- a decoder over a model's symbols ---------------------------------------------------------------

TASK_SYMBOLS = ["<blank>", " ", "a", "b", "c"]  # id 0 the blank, as the speech task's vocabulary


def test_transcript_spaces_words_once_as_references_are():
    assert transcript([2, 1, 1, 3, 4, 1], TASK_SYMBOLS) == "a bc"
    assert transcript([1, 2], TASK_SYMBOLS) == "a" and transcript([], TASK_SYMBOLS) == ""


def test_decoder_options_spell_the_lexicon_and_keep_words_only_where_there_is_a_space():
    lm = WordNgram.fit([["ab", "c"], ["c"]], order=2)
    options = decoder_options(TASK_SYMBOLS, beam=5, words=["ab", "c"], lm=lm, alpha=0.3, beta=2.0)
    assert (options["beam"], options["space"], options["symbols"], options["lm"]) == (5, 1, TASK_SYMBOLS, lm)
    assert (options["alpha"], options["beta"]) == (0.3, 2.0)
    lexicon = options["lexicon"]
    assert len(lexicon) == 2 and lexicon.is_word([2, 3]) and lexicon.is_word([4]) and not lexicon.is_word([2])
    assert decoder_options(TASK_SYMBOLS, words=["ab"], lexicon=False)["lexicon"] is None
    assert decoder_options(TASK_SYMBOLS, words=[])["lexicon"] is None
    spaceless = decoder_options(["<blank>", "1", "2"], words=["12"], lm=lm)  # no word separator: no words
    assert spaceless["space"] is None and spaceless["lm"] is None and spaceless["lexicon"] is None
    prefix_beam_search(random_log_probs(6, 3, 0), **spaceless)  # what the search accepts


def test_decode_is_greedy_at_beam_one_and_the_searchs_best_above():
    lm = WordNgram.fit([["ab", "c"], ["c", "ab"]], order=2)
    for seed in range(5):
        x = random_log_probs(12, len(TASK_SYMBOLS), seed)
        options = decoder_options(TASK_SYMBOLS, beam=1, words=["ab", "c"], lm=lm)
        assert decode(x, options) == greedy(x)
        options = decoder_options(TASK_SYMBOLS, beam=4, words=["ab", "c"], lm=lm)
        best = prefix_beam_search(x, blank=0, **options)[0].ids
        assert decode(x, options) == best
        assert set(transcript(best, TASK_SYMBOLS).split()) <= {"ab", "c"}  # the lexicon held
