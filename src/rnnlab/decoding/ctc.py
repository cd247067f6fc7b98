"""CTC decoding without parameters: greedy, prefix beam search (with a word LM and a lexicon), forced
alignment and word timings, all in numpy over one utterance's frame log-probabilities; the decoder's
settings for a model's symbols.

Every function reads `log_probs` (T, V): a log_softmax over V symbols for each of T frames, `blank` the
id of the CTC blank. A path pi (T,) picks one symbol per frame; the labelling it stands for is B(pi):
repeats merged, then blanks removed, so "a a _ a" -> "aa" and "a a a" -> "a". CTC scores a labelling y by
every path that collapses to it:

    log p_ctc(y | x) = logsumexp over pi with B(pi) = y of  sum_t log_probs[t, pi_t]

Greedy decoding collapses the single best path (argmax per frame); that is the best path, not the best
labelling, since a labelling's mass is spread over its many alignments.

Prefix beam search (Graves 2012, Hannun et al. 2014 "First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs") searches labellings instead. For each prefix y it
carries two sums over the paths of frames 1..t that collapse to y: p_b (those ending in a blank) and p_nb
(those ending in y's last symbol), both as logs. One frame with symbol s at log-prob p:

    blank:          p_b(y)      += p_total(y) + p          (the prefix stays)
    s == last(y):   p_nb(y)     += p_nb(y) + p             (a repeat merges: the prefix stays)
                    p_nb(y + s) += p_b(y) + p              ("aa" needs a blank between the two a's)
    otherwise:      p_nb(y + s) += p_total(y) + p

p_total = logaddexp(p_b, p_nb), so after the last frame p_total(y) is exactly log p_ctc(y | x) for every
prefix that never left the beam. Symbols under `prune` at a frame are skipped (at most `beam` of the
rest, the best one always kept), and the `beam` best prefixes by score go on to the next frame.

Words (`space` = the id of the word separator): a prefix is a sequence of words spelled by `symbols` and
joined by single spaces. Shallow fusion adds alpha * log p_lm(word | previous words) + beta each time a
word is finished (a space after it, or the end of the utterance for the last one), and alpha * log
p_lm(</s> | words) once at the end, so a prefix's score is

    score = log p_ctc(ids | x) + alpha * log p_lm(words) + beta * n_words

The LM is any object with logprob(word, context) and end_logprob(context), natural logs (see
rnnlab.decoding.ngram.WordNgram); its answers are cached per (word, context). A `Lexicon` restricts the
search to its words: a symbol may extend the current word only while it stays a lexicon prefix, and a
space may end it only when it is a lexicon word.

For a model over a table of symbols (id -> character, id 0 the blank in rnnlab's speech task):
`decoder_options` builds the search's settings (the space's id, the lexicon spelled in ids, the LM, alpha,
beta, the beam), `decode` runs greedy (beam <= 1) or the search with them, and `transcript` writes the ids
as text with single spaces, as reference transcripts are written.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

NEG_INF = float("-inf")


def _check(log_probs: np.ndarray, blank: int) -> np.ndarray:
    """log_probs as a (T, V) float64 array; blank in range."""
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {log_probs.shape}")
    if not 0 <= blank < log_probs.shape[1]:
        raise ValueError(f"blank {blank} is outside the vocabulary of {log_probs.shape[1]} symbols")
    return log_probs.astype(np.float64, copy=False)


def best_path(log_probs: np.ndarray, blank: int = 0) -> np.ndarray:
    """(T,) int64: the most likely symbol of each frame, blanks and repeats included (the raw path that
    greedy collapses; the studio draws it)."""
    return _check(log_probs, blank).argmax(axis=1).astype(np.int64)


def _collapse(path: Iterable[int], blank: int) -> list[int]:
    """B(pi): repeats merged, then blanks removed."""
    out, previous = [], None
    for s in path:
        if s != previous and s != blank:
            out.append(int(s))
        previous = s
    return out


def greedy(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    """The best path collapsed: the best symbol per frame, repeats merged, blanks removed. A symbol
    repeated with a blank between ("a _ a") is kept twice."""
    return _collapse(best_path(log_probs, blank).tolist(), blank)


@dataclass
class Hypothesis:
    """One labelling found by prefix_beam_search.

    ids: symbol ids, no blanks (spaces included when the search has words)
    score: acoustic + alpha * lm + beta * n_words, what the search ranked by (= acoustic without an LM)
    acoustic: log p_ctc(ids | x), summed over the alignments the search kept (exact if it never pruned
        this prefix's paths)
    lm: log p_lm of the words, </s> included, natural log (0.0 without an LM)
    """

    ids: list[int]
    score: float
    acoustic: float
    lm: float


class _Node:
    __slots__ = ("children", "word")

    def __init__(self):
        self.children: dict[int, _Node] = {}
        self.word = False


class Lexicon:
    """Words spelled as symbol ids (a trie): is_prefix(ids), is_word(ids). The empty sequence is a prefix
    of every word; it is a word only if given as one."""

    def __init__(self, words: Iterable[Sequence[int]]):
        self.root = _Node()
        self.size = 0
        for word in words:
            node = self.root
            for s in word:
                node = node.children.setdefault(int(s), _Node())
            if not node.word:
                self.size += 1
            node.word = True

    def __len__(self) -> int:
        return self.size

    def _walk(self, ids: Sequence[int]) -> _Node | None:
        node = self.root
        for s in ids:
            node = node.children.get(int(s))
            if node is None:
                return None
        return node

    def is_prefix(self, ids: Sequence[int]) -> bool:
        return self._walk(ids) is not None

    def is_word(self, ids: Sequence[int]) -> bool:
        node = self._walk(ids)
        return node is not None and node.word


class _Prefix:
    """What a prefix's ids imply, worked out once when it is first made (prefixes are nodes of a tree,
    each one symbol below its parent): the words finished so far (their LM log-prob, the LM context and
    the score bonus), the word being spelled and its lexicon node, and the children made so far."""

    __slots__ = ("parent", "last", "word", "node", "context", "lm", "bonus", "children")

    def __init__(self, parent: int, last: int | None, word: tuple[int, ...], node: _Node | None,
                 context: tuple[str, ...], lm: float, bonus: float):
        self.parent, self.last, self.word, self.node = parent, last, word, node
        self.context = context  # the finished words
        self.lm = lm  # sum of log p_lm over the finished words (natural log)
        self.bonus = bonus  # alpha * lm + beta * n_words: what ranks this prefix beyond its acoustic score
        self.children: dict[int, int] = {}  # symbol -> child prefix (-1: the symbol may not follow)


def _logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) on Python floats (np.logaddexp's per-call cost dominates the search)."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _WordScorer:
    """LM look-ups, cached: spelling a word, log p(word | context) and log p(</s> | context). The
    context is cut to the LM's last order - 1 words when it says its order, so the cache stays small."""

    def __init__(self, lm, symbols: Sequence[str] | None):
        self.lm, self.symbols = lm, symbols
        order = getattr(lm, "order", None)
        self.keep = order - 1 if isinstance(order, int) and order >= 1 else None
        self.cache: dict[tuple, float] = {}

    def spell(self, ids: Sequence[int]) -> str:
        return "".join(self.symbols[s] for s in ids)

    def _context(self, context: tuple[str, ...]) -> tuple[str, ...]:
        if self.keep is None:
            return context
        return context[len(context) - self.keep:] if self.keep else ()

    def word(self, word: str, context: tuple[str, ...]) -> float:
        if self.lm is None:
            return 0.0
        key = (word, self._context(context))
        if key not in self.cache:
            self.cache[key] = float(self.lm.logprob(word, key[1]))
        return self.cache[key]

    def end(self, context: tuple[str, ...]) -> float:
        if self.lm is None:
            return 0.0
        key = (None, self._context(context))
        if key not in self.cache:
            self.cache[key] = float(self.lm.end_logprob(key[1]))
        return self.cache[key]


def prefix_beam_search(log_probs: np.ndarray, *, blank: int = 0, beam: int = 16, space: int | None = None,
                       lm=None, alpha: float = 0.5, beta: float = 1.0, lexicon: Lexicon | None = None,
                       symbols: Sequence[str] | None = None, prune: float = -12.0,
                       n_best: int = 1) -> list[Hypothesis]:
    """The n_best labellings of CTC prefix beam search (see the module docstring), best first.

    space: the word separator's id; None = no words, and then lm and lexicon must be None. A space is
        never emitted first or twice in a row, so words are never empty.
    lm, alpha, beta: shallow fusion with a word LM (natural logs); each finished word adds
        alpha * log p_lm(word | context) + beta, and the end adds alpha * log p_lm(</s> | words). Without an
        LM there is no word bonus either (beta would only bias the search towards spaces), so score ==
        acoustic.
    lexicon: only lexicon words may be spelled; `symbols[id]` spells a word for the LM (needed with an lm
        or a lexicon).
    prune: symbols with log-prob under it at a frame are not tried (the frame's best always is, and at
        most `beam` symbols per frame); -inf with a wide beam makes the search exact.

    At the end only hypotheses whose last word is complete (a lexicon word, or empty after a final space)
    count. If the lexicon left none, the best ones are returned with their unfinished last word cut off,
    so under a lexicon every word of the answer is a lexicon word, always.
    """
    log_probs = _check(log_probs, blank)
    T, V = log_probs.shape
    if space is None and (lm is not None or lexicon is not None):
        raise ValueError("a word LM or a lexicon needs words: give the id of the word separator as space=")
    if space is not None and not (0 <= space < V and space != blank):
        raise ValueError(f"space {space} must be a symbol id other than blank {blank} (V = {V})")
    if (lm is not None or lexicon is not None) and symbols is None:
        raise ValueError("symbols (id -> characters) are needed to spell words for the LM and the lexicon")
    if beam < 1 or n_best < 1:
        raise ValueError(f"beam and n_best must be >= 1, got beam={beam}, n_best={n_best}")
    use_lm = lm is not None
    scorer = _WordScorer(lm, symbols)

    root = lexicon.root if lexicon is not None else None
    prefixes = [_Prefix(-1, None, (), root, (), 0.0, 0.0)]  # prefix 0: the empty one

    def extend(k: int, s: int) -> int:
        """The prefix k + (s,), made on first sight; -1 where s may not follow."""
        parent = prefixes[k]
        child = parent.children.get(s)
        if child is not None:
            return child
        made = None
        if s == space:
            # never a leading or double space; under a lexicon only after a complete word
            if parent.word and (lexicon is None or parent.node.word):
                word = scorer.spell(parent.word) if use_lm else ""
                gain = scorer.word(word, parent.context) if use_lm else 0.0
                made = _Prefix(k, s, (), root, parent.context + (word,) if use_lm else (), parent.lm + gain,
                               parent.bonus + (alpha * gain + beta if use_lm else 0.0))
        else:
            node = None if lexicon is None else parent.node.children.get(s)
            if lexicon is None or node is not None:
                made = _Prefix(k, s, parent.word + (s,) if space is not None else (), node, parent.context,
                               parent.lm, parent.bonus)
        if made is None:
            child = -1
        else:
            child = len(prefixes)
            prefixes.append(made)
        parent.children[s] = child
        return child

    lse = _logaddexp
    beams: dict[int, tuple[float, float]] = {0: (0.0, NEG_INF)}  # prefix -> (log p_b, log p_nb)
    width = min(beam, V)
    order = np.argsort(-log_probs, axis=1, kind="stable")[:, :width]  # (T, width) the best symbols per frame
    for t in range(T):
        row = log_probs[t]  # (V,)
        candidates = [(s, p) for s, p in zip(order[t].tolist(), row[order[t]].tolist()) if p >= prune]
        if not candidates:
            candidates = [(int(order[t, 0]), float(row[order[t, 0]]))]
        if all(s != blank for s, _ in candidates):
            # the blank is always tried: under a lexicon every other candidate may be refused, and a frame
            # that extends no prefix would empty the beam
            candidates.append((blank, float(row[blank])))
        fresh: dict[int, list[float]] = {}
        for k, (p_b, p_nb) in beams.items():
            p_total = lse(p_b, p_nb)
            last = prefixes[k].last
            for s, p in candidates:
                if s == blank:
                    cell = fresh.get(k)
                    if cell is None:
                        fresh[k] = [p_total + p, NEG_INF]
                    else:
                        cell[0] = lse(cell[0], p_total + p)
                    continue
                if s == last:  # the repeat merges; extending needs the paths that ended in a blank
                    cell = fresh.get(k)
                    if cell is None:
                        fresh[k] = [NEG_INF, p_nb + p]
                    else:
                        cell[1] = lse(cell[1], p_nb + p)
                    through = p_b + p
                    if through == NEG_INF:
                        continue
                else:
                    through = p_total + p
                child = extend(k, s)
                if child < 0:
                    continue
                cell = fresh.get(child)
                if cell is None:
                    fresh[child] = [NEG_INF, through]
                else:
                    cell[1] = lse(cell[1], through)
        if len(fresh) > beam:
            ranked = heapq.nlargest(beam, fresh.items(),
                                    key=lambda item: lse(item[1][0], item[1][1]) + prefixes[item[0]].bonus)
        else:
            ranked = fresh.items()
        beams = {k: (cell[0], cell[1]) for k, cell in ranked}

    finals: list[tuple[bool, float, Hypothesis]] = []  # (counts under the lexicon, score, hypothesis)
    for k, (p_b, p_nb) in beams.items():
        state = prefixes[k]
        ids, j = [], k
        while j > 0:
            ids.append(prefixes[j].last)
            j = prefixes[j].parent
        ids.reverse()
        acoustic = lse(p_b, p_nb)
        lm_total, bonus, context = state.lm, state.bonus, state.context
        complete = lexicon is None or not state.word or state.node.word
        if not complete:  # a fallback only: the unfinished word (and the space before it) is dropped
            cut = len(ids) - len(state.word)
            ids = ids[:max(0, cut - 1)]
        if use_lm:
            if state.word:  # the last word ends with the utterance
                word = scorer.spell(state.word)
                gain = scorer.word(word, context)
                lm_total, bonus, context = lm_total + gain, bonus + alpha * gain + beta, context + (word,)
            end = scorer.end(context)
            lm_total, bonus = lm_total + end, bonus + alpha * end
        score = acoustic + bonus
        finals.append((complete, score, Hypothesis(ids, float(score), float(acoustic), float(lm_total))))
    valid = [f for f in finals if f[0]] or finals
    valid.sort(key=lambda f: f[1], reverse=True)
    return [f[2] for f in valid[:n_best]]


def forced_align(log_probs: np.ndarray, ids: Sequence[int], blank: int = 0) -> list[tuple[int, int]]:
    """The Viterbi CTC alignment of a known labelling: for each symbol of ids, (first_frame, last_frame)
    inclusive, the frames where the best path emits it (every other frame is a blank).

    Dynamic programming over the 2L+1 extended labels (blank, y1, blank, y2, ..., yL, blank): a state
    is entered from itself or the one before, and a symbol also from the symbol before it unless the two
    are equal (then a blank must come between). The path ends on the last symbol or the blank after it.
    ValueError if T is too short (L frames plus one per adjacent repeat) or no path has finite score.
    """
    log_probs = _check(log_probs, blank)
    T, V = log_probs.shape
    ids = [int(s) for s in ids]
    if any(s == blank or not 0 <= s < V for s in ids):
        raise ValueError(f"ids must be symbols in [0, {V}) other than blank {blank}: {ids}")
    L = len(ids)
    if L == 0:
        return []
    repeats = sum(a == b for a, b in zip(ids, ids[1:]))
    if T < L + repeats:
        raise ValueError(f"{T} frames cannot hold {L} symbols with {repeats} repeats (need {L + repeats})")
    S = 2 * L + 1
    labels = np.full(S, blank, dtype=np.int64)  # (S,) the extended labels
    labels[1::2] = ids
    # skip[s]: state s may be entered from s - 2 (a symbol after a different symbol)
    skip = np.zeros(S, dtype=bool)
    skip[3::2] = labels[3::2] != labels[1:-2:2]
    emit = log_probs[:, labels]  # (T, S)
    delta = np.full(S, NEG_INF)  # (S,) best log score of a path of frames 0..t ending in state s
    delta[:2] = emit[0, :2]
    back = np.zeros((T, S), dtype=np.int8)  # (T, S) how state s was entered at t: 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        moves = np.full((3, S), NEG_INF)  # (3, S)
        moves[0] = delta
        moves[1, 1:] = delta[:-1]
        moves[2, 2:] = np.where(skip[2:], delta[:-2], NEG_INF)
        back[t] = moves.argmax(axis=0)
        delta = moves[back[t], np.arange(S)] + emit[t]
    end = S - 1 if delta[S - 1] >= delta[S - 2] else S - 2
    if delta[end] == NEG_INF:
        raise ValueError("no alignment of ids has a finite score under log_probs")
    spans: list[list[int]] = [[-1, -1] for _ in range(L)]
    s = end
    for t in range(T - 1, -1, -1):
        if s % 2 == 1:
            k = s // 2
            spans[k][0] = t
            if spans[k][1] < 0:
                spans[k][1] = t
        s -= int(back[t, s])
    return [(first, last) for first, last in spans]


def word_timings(log_probs: np.ndarray, ids: Sequence[int], *, blank: int = 0, space: int,
                 symbols: Sequence[str], frame_seconds: float) -> list[dict]:
    """Each word of ids (split at `space`) with its time span from forced_align:
    [{"word": "YES", "start": 0.31, "end": 0.52}], start = the first frame of its first symbol *
    frame_seconds, end = (the last frame of its last symbol + 1) * frame_seconds, seconds rounded to 4
    decimals. Spaces are aligned like any symbol but give no word; empty words (leading, trailing or
    doubled spaces) are skipped."""
    ids = [int(s) for s in ids]
    spans = forced_align(log_probs, ids, blank=blank)
    words, current = [], []  # current: positions in ids of the word being read
    for i, s in enumerate(ids + [space]):
        if s != space:
            current.append(i)
            continue
        if current:
            words.append({"word": "".join(symbols[ids[j]] for j in current),
                          "start": round(spans[current[0]][0] * frame_seconds, 4),
                          "end": round((spans[current[-1]][1] + 1) * frame_seconds, 4)})
        current = []
    return words


# ---- a decoder over a model's symbols ---------------------------------------------------------------

def transcript(ids: Iterable[int], symbols: Sequence[str], space: str = " ") -> str:
    """Symbol ids -> text with single spaces between words (none leading, trailing or doubled), the way
    reference transcripts are normalised, so a hypothesis and its reference compare word for word."""
    raw = "".join(symbols[i] for i in ids)
    return space.join(w for w in raw.split(space) if w)


def decoder_options(symbols: Sequence[str], *, beam: int = 16, words: Sequence[str] = (), lm=None,
                    lexicon: bool = True, alpha: float = 0.5, beta: float = 1.0, space: str = " ") -> dict:
    """prefix_beam_search's keyword arguments (less log_probs and blank) for a model over `symbols` (id ->
    character): the word separator `space`'s id, the LM, and with `lexicon` a Lexicon of `words` (the
    training transcripts' words). Symbols without a space have no words, so neither the LM nor the lexicon
    apply. `beam` <= 1 means greedy to `decode`."""
    stoi = {s: i for i, s in enumerate(symbols)}
    space_id = stoi.get(space)
    has_words = space_id is not None
    spelled = Lexicon([[stoi[c] for c in w] for w in words]) if lexicon and has_words and words else None
    return {"beam": beam, "space": space_id, "symbols": list(symbols), "lm": lm if has_words else None,
            "lexicon": spelled, "alpha": alpha, "beta": beta}


def decode(log_probs: np.ndarray, options: dict, blank: int = 0) -> list[int]:
    """(T, V) log-probabilities of one utterance -> the ids of its labelling: greedy when options["beam"]
    <= 1, else the best of prefix_beam_search(**options)."""
    if options["beam"] <= 1:
        return greedy(log_probs, blank=blank)
    return prefix_beam_search(log_probs, blank=blank, **options)[0].ids
