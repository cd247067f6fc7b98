"""A word n-gram language model for the CTC decoder's shallow fusion: interpolated Kneser-Ney.

Interpolated KN (Kneser & Ney 1995; Chen & Goodman 1998, section 3) with one absolute discount d for
every order ("plain" KN, not the three discounts of modified KN). For a context h of k - 1 words and its
shorter context h' (h without its first word):

    p_k(w | h) = max(a(h w) - d, 0) / a(h .)  +  d * N1+(h .) / a(h .) * p_{k-1}(w | h')
    p_0(w)     = 1 / |V'|                      V' = the training words, </s> and <unk>

a(h .) = sum over w of a(h w), N1+(h .) = how many words w have a(h w) > 0, and a context never seen
(a(h .) = 0) passes straight to p_{k-1}. The adjusted counts a are KN's: raw counts at the highest
order, and below it continuation counts, the number of distinct words seen just before the n-gram, so
that a word frequent only after one word ("Francisco") gets little unigram mass. N-grams that begin with
<s> cannot be continued to the left (the padding is all there is), so they keep their raw counts, as in
KenLM.

Each sentence is padded with order - 1 <s> on the left and one </s> on the right; </s> is predicted,
<s> never is. Unknown words: <unk> is one more word of V' that is never seen, so its probability is the
share of the discounted mass that the uniform p_0 gives it (d * N1+(.) / a(.) / |V'| at the unigram
level), the same for every unseen word, and every distribution over V' sums to 1.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FORMAT = "rnnlab.word_ngram"


class WordNgram:
    """Interpolated Kneser-Ney word n-gram (Chen & Goodman 1998, plain KN with discount d), estimated from
    the training transcripts; <s>/</s> sentence marks; unseen words get the <unk> share (see the module
    docstring). Log-probabilities are natural logs."""

    def __init__(self, order: int = 3, discount: float = 0.75):
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        if not isinstance(discount, (int, float)) or isinstance(discount, bool) or not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}")
        self.order, self.discount = order, float(discount)
        # adjusted[k - 1]: k-gram tuple -> its adjusted count a (k = 1 .. order)
        self.adjusted: list[dict[tuple[str, ...], int]] = [{} for _ in range(order)]
        self._cache: dict[tuple[str, ...], float] = {}
        self._index()

    # ----- estimation -----

    @classmethod
    def fit(cls, sentences: Iterable[Sequence[str]], order: int = 3, discount: float = 0.75) -> "WordNgram":
        """Counts from sentences (each a sequence of words). ValueError when there are no words, or a word
        is a sentence mark."""
        model = cls(order, discount)
        N = model.order
        raw: list[dict[tuple[str, ...], int]] = [defaultdict(int) for _ in range(N)]
        words = 0
        for sentence in sentences:
            sentence = [str(w) for w in sentence]
            if BOS in sentence or EOS in sentence:
                raise ValueError(f"sentence marks {BOS} and {EOS} may not be words: {sentence}")
            words += len(sentence)
            padded = [BOS] * (N - 1) + sentence + [EOS]
            for i in range(N - 1, len(padded)):  # every predicted token, </s> included
                for k in range(1, N + 1):
                    raw[k - 1][tuple(padded[i - k + 1:i + 1])] += 1
        if words == 0:
            raise ValueError("no training words: a word n-gram needs at least one non-empty sentence")
        # continuation counts of the lower orders: distinct left neighbours among the (k+1)-grams
        left: list[dict[tuple[str, ...], int]] = [defaultdict(int) for _ in range(N)]
        for k in range(2, N + 1):
            for gram in raw[k - 1]:
                left[k - 2][gram[1:]] += 1
        for k in range(1, N + 1):
            table = model.adjusted[k - 1]
            for gram, count in raw[k - 1].items():
                table[gram] = count if k == N or gram[0] == BOS else left[k - 1][gram]
        model._index()
        return model

    def _index(self) -> None:
        """Per context h: a(h .) and N1+(h .), for every order; the vocabulary V'."""
        self.totals: dict[tuple[str, ...], int] = defaultdict(int)  # h -> a(h .)
        self.types: dict[tuple[str, ...], int] = defaultdict(int)  # h -> N1+(h .)
        for table in self.adjusted:
            for gram, count in table.items():
                self.totals[gram[:-1]] += count
                self.types[gram[:-1]] += 1
        self.totals, self.types = dict(self.totals), dict(self.types)
        self.words = sorted(g[0] for g in self.adjusted[0] if g[0] not in (EOS, UNK))
        self._known = set(self.words)
        self._size = len(self.words) + 2  # |V'|: the words, </s> and <unk>
        self._cache = {}

    # ----- probabilities -----

    def _prob(self, gram: tuple[str, ...]) -> float:
        """p_k(w | h) for gram = h + (w,), k = len(gram), by the recursion of the module docstring."""
        value = self._cache.get(gram)
        if value is not None:
            return value
        lower = self._prob(gram[1:]) if len(gram) > 1 else 1.0 / self._size
        h = gram[:-1]
        total = self.totals.get(h, 0)
        if total == 0:
            value = lower
        else:
            count = self.adjusted[len(gram) - 1].get(gram, 0)
            d = self.discount
            value = max(count - d, 0.0) / total + d * self.types[h] / total * lower
        self._cache[gram] = value
        return value

    def _context(self, context: Sequence[str]) -> tuple[str, ...]:
        """The last order - 1 words of context, unknown ones as <unk>, left-padded with <s>."""
        keep = self.order - 1
        if keep == 0:
            return ()
        tail = [w if w in self._known or w == BOS else UNK for w in list(context)[-keep:]]
        return tuple([BOS] * (keep - len(tail)) + tail)

    def logprob(self, word: str, context: Sequence[str]) -> float:
        """log p(word | the last order - 1 words of context); a shorter context is a sentence start (padded
        with <s>). A word not in the vocabulary is scored as <unk>."""
        if word == BOS:
            raise ValueError(f"{BOS} is never predicted")
        if word not in self._known and word != EOS:
            word = UNK
        return math.log(self._prob(self._context(context) + (word,)))

    def end_logprob(self, context: Sequence[str]) -> float:
        """log p(</s> | context): the sentence ends after context."""
        return math.log(self._prob(self._context(context) + (EOS,)))

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """log p(words, </s>): every word given the ones before it, then the end."""
        words = list(words)
        return sum(self.logprob(w, words[:i]) for i, w in enumerate(words)) + self.end_logprob(words)

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """exp(- total log-prob / predicted tokens), each sentence's </s> counted as a token."""
        total, tokens = 0.0, 0
        for sentence in sentences:
            total += self.sentence_logprob(sentence)
            tokens += len(sentence) + 1
        if tokens == 0:
            raise ValueError("perplexity of no sentences")
        return math.exp(-total / tokens)

    def vocabulary(self) -> list[str]:
        """The training words, sorted (without <s>, </s> and <unk>)."""
        return list(self.words)

    # ----- JSON -----

    def to_json(self) -> dict:
        """Plain JSON: order, discount and the adjusted counts per order as [[w1, ..., wk], count] rows."""
        return {"format": FORMAT, "version": 1, "order": self.order, "discount": self.discount,
                "counts": [[[list(gram), count] for gram, count in sorted(table.items())]
                           for table in self.adjusted]}

    @classmethod
    def from_json(cls, d: dict) -> "WordNgram":
        """The model to_json wrote; ValueError on anything malformed."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != 1:
            raise ValueError(f"not a {FORMAT} version 1 object")
        try:
            model = cls(d["order"], d["discount"])
            counts = d["counts"]
        except KeyError as err:
            raise ValueError(f"{FORMAT}: missing key {err}") from None
        if not isinstance(counts, list) or len(counts) != model.order:
            raise ValueError(f"{FORMAT}: counts must be a list of {model.order} orders")
        for k, rows in enumerate(counts, start=1):
            if not isinstance(rows, list):
                raise ValueError(f"{FORMAT}: counts of order {k} must be a list")
            for row in rows:
                ok = (isinstance(row, list) and len(row) == 2 and isinstance(row[0], list) and len(row[0]) == k
                      and all(isinstance(w, str) for w in row[0]) and isinstance(row[1], int)
                      and not isinstance(row[1], bool) and row[1] > 0 and row[0][-1] != BOS)
                if not ok:
                    raise ValueError(f"{FORMAT}: bad {k}-gram row {row!r}")
                model.adjusted[k - 1][tuple(row[0])] = row[1]
        if not any(g[0] != EOS for g in model.adjusted[0]):
            raise ValueError(f"{FORMAT}: no words")
        model._index()
        return model
