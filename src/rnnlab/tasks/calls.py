"""Malware family from API-call sequences: read the Windows API calls a program made in a sandbox, decide
its family (Trojan, Worms, ...) at the end.

The intent classifier's shape, reused (rnnlab.modules.classifier.IntentModel: call-id embedding with call
dropout, unidirectional Recurrent, linear head): the "words" are API-call ids. What is new is length:
Mal-API-2019's sequences have a median of ~630 calls and a maximum of ~1.5 million, so every sequence is
cut to a bounded number of steps before the network sees it, by one of these strategies (data config):

    max_run = k       runs of the same call cut to k calls (1: "collapse", 5,5,5,5,7 -> 5,7); with
                      model.run_feature, each kept call also gets log(1 + its run's length) (B, T, 1)
    strategy = head   the first max_calls calls          (what the program did first)
               tail   the last max_calls calls           (how it ended)
               head_tail  the first and last max_calls / 2 calls, joined
               chunks     chunks of chunk_size calls; at most max_chunks of them, spread evenly over the
                          sequence; each chunk encoded on its own, the chunks' final states pooled
                          (model.chunk_pool: max | mean | attention) before the head

    calls (T,) -> runs cut -> strategy -> tokens (K, L) with K = 1 (head/tail) or <= max_chunks
    tokens (B, K, L) -> embed (N, L, E) over the N real chunks -> Recurrent -> last step (N, H)
                     -> (B, K, H) -> pool over chunks (B, H) -> head (B, C)

Time and memory per sequence are therefore bounded by max_calls (or max_chunks x chunk_size) steps,
whatever the input's length; the numpy cutting itself is linear and runs on int64 arrays.

What cutting loses, a bag of call n-grams keeps (model.bag_size > 0; "wide and deep"): the 1..bag_ngrams-grams of
the WHOLE raw sequence, the bag_size with the highest document frequency in training, weighted as the TF-IDF
baseline weighs them (sublinear tf x smooth idf, L2-normalised; `CallBag`), read by a linear layer whose logits are
added to the recurrent head's. The recurrent part reads order within the cut; the bag counts what happened over
the whole run, at any length.

    calls (T,) -> n-gram counts -> bag (F,) -> dropout -> linear (C,)  +  the recurrent logits (C,)

With `data.folds = F` the training file is split into F stratified folds (fixed `split_seed`): fold
`data.fold` is the test split, and a stratified `valid_fraction` of the rest the validation split, so a
benchmark runs cross-validation through the ordinary trainer (rnnlab.readers.splits.split_indices, which
the benchmark's baseline calls too, so both see every fold alike).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.errors import DataError, UserError
from rnnlab.explain import eval_mode, trace_layers
from rnnlab.metrics.classification import accuracy, confusion_matrix, macro_f1
from rnnlab.modules.classifier import IntentModel, IntentModelConfig
from rnnlab.modules.pooling import AttentionPool, last_step, max_pool, mean_pool
from rnnlab.readers.calls import (
    CallSequence,
    calls_from_bytes,
    is_jsonl,
    parse_calls,
    read_api_index,
    read_call_file,
    read_call_lines,
    read_calls_jsonl,
)
from rnnlab.readers.paths import check_input_file
from rnnlab.readers.splits import split_indices
from rnnlab.runtime import torch_graphs
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Task, labels
from rnnlab.vocab import Vocab

STRATEGIES = ("head", "tail", "head_tail", "chunks")
POOLS = ("max", "mean", "attention")
PREDICT_BATCH = 64  # sequences per forward pass in predict
SHOWN_TEXT = 200  # a prediction's `text` for an array input: its first ids (a 1.5M-call line is 10 MB)


@dataclass
class CallsData:
    """Where the sequences are, and how a long one is cut. Paths: rnnlab.readers.paths."""

    train: str = "$RNNLAB_DATA/malapi/100_calls.txt.gz"  # calls file (ids by commas/spaces) or JSONL
    train_labels: str = "$RNNLAB_DATA/malapi/100_types.txt"  # one family per line ("" for JSONL)
    valid: str = ""  # "" = a stratified `valid_fraction` of train (fixed seed)
    valid_labels: str = ""
    test: str = ""  # "" = no test split (or, with folds, the held-out fold)
    test_labels: str = ""
    api_index: str = ""  # optional `name=id` file (ApiIndex.txt): names the calls in predictions
    valid_fraction: float = 0.1
    folds: int = 0  # > 1: stratified cross-validation over train; fold `fold` is the test split
    fold: int = 0
    split_seed: int = 0  # the folds' and the validation split's permutation (not the training seed)
    min_count: int = 1  # calls seen fewer times in train map to <unk>
    max_run: int = 0  # 0: keep runs of a repeated call; k >= 1: cut each run to k calls (1 = collapse)
    strategy: str = "head"  # head | tail | head_tail | chunks
    max_calls: int = 1000  # steps read per sequence by head / tail / head_tail
    chunk_size: int = 100  # calls per chunk (strategy = chunks)
    max_chunks: int = 10  # chunks per sequence, spread evenly over it (strategy = chunks)


@dataclass
class CallsModelConfig:
    cell: str = "gru"  # rnn_tanh | rnn_relu | lstm | gru
    embed_size: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.2
    word_dropout: float = 0.05  # calls replaced by <unk> in training (unseen calls at predict time)
    chunk_pool: str = "max"  # how chunks' final states become one vector: max | mean | attention
    run_feature: bool = False  # add log(1 + run length) per kept call (meaningful with data.max_run > 0)
    bag_size: int = 0  # > 0: a bag of the whole sequence's call n-grams (this many features) beside the network
    bag_ngrams: int = 3  # the bag's n-grams: 1 .. bag_ngrams consecutive calls
    engine: str = "auto"


# ---- cutting a long sequence (numpy, linear in its length) -------------------------------------------

def cut_runs(calls: np.ndarray, max_run: int) -> tuple[np.ndarray, np.ndarray]:
    """Each run of one repeated call cut to at most `max_run` calls (0: unchanged) -> (calls (T',),
    run length of the run each kept call came from (T',)): 5,5,5,7 with max_run 1 -> [5, 7], [3, 1]."""
    calls = np.asarray(calls)
    starts = np.flatnonzero(np.r_[True, calls[1:] != calls[:-1]])  # (R,) first index of each run
    run_len = np.diff(np.r_[starts, len(calls)])  # (R,)
    run_of = np.repeat(np.arange(len(starts)), run_len)  # (T,) which run each call is in
    if max_run <= 0:
        return calls, run_len[run_of]
    keep = (np.arange(len(calls)) - starts[run_of]) < max_run  # (T,) position within its run < max_run
    return calls[keep], run_len[run_of[keep]]


def cut(calls: np.ndarray, data: CallsData) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A whole sequence -> its chunks (each (L_k,), L_k <= chunk or max_calls) and their run lengths."""
    calls, runs = cut_runs(calls, data.max_run)
    n = len(calls)
    if data.strategy == "chunks":
        size = data.chunk_size
        n_chunks = -(-n // size)
        # evenly spread: chunk 0 and the last one always, the others between (bounded count, bounded steps)
        picks = np.unique(np.linspace(0, n_chunks - 1, min(n_chunks, data.max_chunks)).round().astype(int))
        # the last chunk is the last `size` calls (it may overlap the one before): every chunk is full
        starts = np.minimum(picks * size, max(n - size, 0))
        return [calls[a:a + size] for a in starts], [runs[a:a + size] for a in starts]
    m = data.max_calls
    if n <= m:
        return [calls], [runs]
    if data.strategy == "head":
        sl = [slice(0, m)]
    elif data.strategy == "tail":
        sl = [slice(n - m, n)]
    else:  # head_tail: the first ceil(m/2) and the last floor(m/2), read as one sequence
        sl = [slice(0, m - m // 2), slice(n - m // 2, n)]
    return [np.concatenate([calls[s] for s in sl])], [np.concatenate([runs[s] for s in sl])]


# ---- the bag of n-grams (model.bag_size) -----------------------------------------------------------
# An n-gram of raw call ids is one int64 key: ids + 1 in base 2**20 digits, so a 1-gram is < 2**20 <= any
# 2-gram < 2**40 <= any 3-gram < 2**60 (no two n-grams of any lengths share a key). Ids beyond 2**20 - 2 (no API
# index comes near: Mal-API has ~300 ids) share the last digit. Keys are written to the bundle as "id id id".

BAG_BASE = 2 ** 20
MAX_BAG_NGRAMS = 3  # 3 digits of 20 bits stay inside int64


def ngram_keys(calls: np.ndarray, n_max: int) -> np.ndarray:
    """Every 1..n_max-gram of `calls` (T,) as an int64 key (see above), in no particular order."""
    digits = np.minimum(np.asarray(calls, dtype=np.int64), BAG_BASE - 2) + 1  # (T,) in 1 .. BAG_BASE - 1
    keys, grams = [], digits.copy()
    for n in range(1, n_max + 1):
        if n > 1:  # grams[i] = the n-gram starting at i: the (n-1)-gram there, one more digit
            grams = grams[:-1] * BAG_BASE + digits[n - 1:]
        keys.append(grams)
    return np.concatenate(keys)


def key_text(key: int) -> str:
    digits = []
    while key:
        key, d = divmod(key, BAG_BASE)
        digits.append(str(d - 1))
    return " ".join(reversed(digits))


def text_key(text: str) -> int:
    key = 0
    for d in text.split():
        key = key * BAG_BASE + int(d) + 1
    return key


class CallBag:
    """The kept n-grams (sorted keys) and their idf: sequence -> the TF-IDF vector the linear baseline reads
    (sklearn's TfidfVectorizer(sublinear_tf=True, smooth_idf=True, norm="l2") over these features)."""

    def __init__(self, keys: np.ndarray, idf: np.ndarray, n_max: int):
        order = np.argsort(keys)
        self.keys, self.idf, self.n_max = np.asarray(keys, dtype=np.int64)[order], np.asarray(idf)[order], n_max

    @classmethod
    def fit(cls, sequences: Iterable[np.ndarray], size: int, n_max: int) -> "CallBag":
        """The `size` n-grams in the most training sequences (ties: the smaller key); idf = ln((1 + n) / (1 + df))
        + 1, n sequences."""
        per_seq = [np.unique(ngram_keys(c, n_max)) for c in sequences]
        keys, df = np.unique(np.concatenate(per_seq), return_counts=True)
        keep = np.lexsort((keys, -df))[:size]  # by df descending, then key
        idf = np.log((1 + len(per_seq)) / (1 + df[keep])) + 1.0
        return cls(keys[keep], idf, n_max)

    def __len__(self) -> int:
        return len(self.keys)

    def vector(self, calls: np.ndarray) -> tuple[list[int], list[float]]:
        """A whole sequence -> its bag as (feature indices, values): (1 + ln tf) x idf over the kept n-grams,
        L2-normalised (an all-unseen sequence: empty)."""
        grams, tf = np.unique(ngram_keys(calls, self.n_max), return_counts=True)
        at = np.searchsorted(self.keys, grams)
        hit = (at < len(self.keys)) & (self.keys[np.minimum(at, len(self.keys) - 1)] == grams)
        idx = at[hit]
        values = (1.0 + np.log(tf[hit])) * self.idf[idx]
        norm = float(np.sqrt((values ** 2).sum()))
        return idx.tolist(), (values / norm if norm > 0 else values).astype(np.float32).tolist()

    def to_json(self) -> dict[str, Any]:
        return {"ngrams": [key_text(int(k)) for k in self.keys], "idf": [float(v) for v in self.idf],
                "n_max": self.n_max}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> "CallBag":
        grams, idf, n_max = state["ngrams"], state["idf"], state["n_max"]
        if not (isinstance(grams, list) and isinstance(idf, list) and len(grams) == len(idf) and grams
                and isinstance(n_max, int) and 1 <= n_max <= MAX_BAG_NGRAMS):
            raise ValueError("bag.ngrams needs as many ngrams as idf values and n_max in 1 .. 3")
        if not all(isinstance(g, str) and 1 <= len(g.split()) <= n_max and all(d.isdigit() for d in g.split())
                   for g in grams) or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in idf):
            raise ValueError("bag.ngrams: each n-gram is 1 .. n_max call ids, each idf a finite number")
        return cls(np.array([text_key(g) for g in grams], dtype=np.int64), np.array(idf, dtype=np.float64), n_max)


# ---- the model ------------------------------------------------------------------------------------

class CallsModel(nn.Module):
    """IntentModel's embedding, encoder and head (as `core`), run over chunks and pooled across them."""

    def __init__(self, n_calls: int, n_families: int, cfg: CallsModelConfig, pad_id: int, unk_id: int,
                 n_bag: int = 0):
        super().__init__()
        core = IntentModelConfig(cell=cfg.cell, embed_size=cfg.embed_size, hidden_size=cfg.hidden_size,
                                 num_layers=cfg.num_layers, dropout=cfg.dropout, word_dropout=cfg.word_dropout,
                                 engine=cfg.engine)
        self.core = IntentModel(n_calls, n_families, core, pad_id, unk_id)
        self.chunk_pool = cfg.chunk_pool
        self.run_embed = nn.Linear(1, cfg.embed_size) if cfg.run_feature else None  # log run length -> (E,)
        self.pool = AttentionPool(cfg.hidden_size, cfg.hidden_size) if cfg.chunk_pool == "attention" else None
        # the bag of n-grams: a linear model of its own, its logits added to the recurrent head's
        self.bag_head = nn.Linear(n_bag, n_families) if n_bag else None

    def embed(self, tokens: torch.Tensor, runs: torch.Tensor | None) -> torch.Tensor:
        """tokens (N, L), runs (N, L) log run lengths -> (N, L, E)."""
        x = self.core.embed(self.core.word_dropout(tokens))
        if self.run_embed is not None and runs is not None:
            x = x + self.run_embed(runs.unsqueeze(-1).to(x.dtype))
        return x

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, runs: torch.Tensor | None = None,
                bag: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, K, L), lengths (B, K) per chunk (0 = no chunk; real chunks first), runs (B, K, L), bag (B, F)
        -> logits (B, C)."""
        B, K, L = tokens.shape
        real = lengths.reshape(-1) > 0  # (B*K,)
        lens = lengths.reshape(-1)[real]  # (N,)
        x = self.embed(tokens.reshape(-1, L)[real], None if runs is None else runs.reshape(-1, L)[real])
        out, _ = self.core.encoder(self.core.drop(x), lengths=lens.cpu())  # (N, L, H)
        final = last_step(out, lens)  # (N, H) each chunk's state at its end
        states = final.new_zeros(B * K, final.shape[-1])
        states[real] = final
        states = states.view(B, K, -1)  # (B, K, H), zeros past each sequence's chunks
        n_chunks = (lengths > 0).sum(1)  # (B,)
        if self.pool is not None:
            pooled = self.pool(states, n_chunks)
        else:
            pooled = (max_pool if self.chunk_pool == "max" else mean_pool)(states, n_chunks)  # (B, H)
        logits = self.core.head(self.core.drop(pooled))  # (B, C)
        if self.bag_head is not None and bag is not None:
            logits = logits + self.bag_head(self.core.drop(bag.to(logits.dtype)))  # (B, F) -> (B, C)
        return logits


class _Exported(nn.Module):
    """A CallsModel called as exported: (tokens, lengths[, runs][, bag]) -> logits, the optional inputs there
    only when the model reads them (model.run_feature, model.bag_size)."""

    def __init__(self, model: CallsModel):
        super().__init__()
        self.model = model
        self.runs, self.bag = model.run_embed is not None, model.bag_head is not None

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, first: torch.Tensor | None = None,
                second: torch.Tensor | None = None) -> torch.Tensor:
        runs = first if self.runs else None
        bag = (second if self.runs else first) if self.bag else None
        return self.model(tokens, lengths, runs, bag)


# ---- the task -------------------------------------------------------------------------------------

class CallsTask(Task):
    """Many-to-one classification of API-call sequences (malware families), long sequences cut first."""

    name = "api_calls"
    DataConfig = CallsData
    ModelConfig = CallsModelConfig
    metric = "macro_f1"  # the families are balanced in Mal-API-2019, but macro-F1 is the figure reported
    metric_mode = "max"
    input_kind = "file"  # `rnnlab predict BUNDLE calls.txt`: a calls file (or JSONL), one sequence per line

    @classmethod
    def ignored_keys(cls, data: CallsData, model: CallsModelConfig) -> dict[str, str]:
        chunks = data.strategy == "chunks"
        why = f"data.strategy = {data.strategy!r} " + ("reads chunks" if chunks else "reads no chunks")
        ignored = dict.fromkeys(["data.max_calls"] if chunks else ["data.chunk_size", "data.max_chunks"], why)
        if not data.folds:
            ignored["data.fold"] = "data.folds = 0 makes no folds"
        if data.valid:
            ignored["data.valid_fraction"] = "data.valid names the validation file"
        if not model.bag_size:
            ignored["model.bag_ngrams"] = "model.bag_size = 0 makes no bag of n-grams"
        return ignored

    def __init__(self, data: CallsData, model: CallsModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers"), rates=("dropout", "word_dropout"))
        checks.one_of("model.chunk_pool", model.chunk_pool, POOLS)
        checks.one_of("data.strategy", data.strategy, STRATEGIES)
        if not 0.0 <= data.valid_fraction < 1.0:
            raise UserError(f"data.valid_fraction must be in [0, 1), got {data.valid_fraction}")
        checks.whole("data.min_count", data.min_count, 0)
        checks.whole("data.max_run", data.max_run, 0)
        checks.whole("data.max_calls", data.max_calls)
        checks.whole("data.chunk_size", data.chunk_size)
        checks.whole("data.max_chunks", data.max_chunks)
        checks.whole("data.folds", data.folds, 0)
        checks.whole("model.bag_size", model.bag_size, 0)
        checks.whole("model.bag_ngrams", model.bag_ngrams)
        if model.bag_ngrams > MAX_BAG_NGRAMS:
            raise UserError(f"model.bag_ngrams must be in 1 .. {MAX_BAG_NGRAMS}, got {model.bag_ngrams}")
        if data.folds == 1:
            raise UserError("data.folds must be 0 (no cross-validation) or >= 2, got 1")
        if data.folds and not 0 <= data.fold < data.folds:
            raise UserError(f"data.fold must be in [0, {data.folds}), got {data.fold}")
        if data.folds and data.test:
            raise UserError("data.test must be empty with data.folds: the held-out fold is the test split")
        self.calls: Vocab | None = None
        self.families: Vocab | None = None
        self.api_names: dict[int, str] = {}
        self._lut: np.ndarray | None = None  # raw call id -> vocabulary id (unknown -> unk)
        self._parts: dict[str, list[CallSequence]] | None = None  # the train file's split, read once
        self.bag: CallBag | None = None  # model.bag_size > 0: the kept n-grams and their idf

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        out = ["train"]
        if self.data.valid or self.data.valid_fraction > 0:
            out.append("valid")
        if self.data.test or self.data.folds:
            out.append("test")
        return out

    def _train_file(self) -> list[CallSequence]:
        return read_call_file(self.data.train, self.data.train_labels)

    def _partition(self) -> dict[str, list[CallSequence]]:
        """train / valid / test from the train file: the fold (if any), then a stratified valid part."""
        if self._parts is None:  # read() is called once per split: parse the (60 MB) file once
            examples = self._train_file()
            d = self.data
            try:
                index = split_indices([e.label for e in examples], d.folds, d.fold,
                                      0.0 if d.valid else d.valid_fraction, d.split_seed)
            except ValueError as e:  # a family with fewer sequences than folds
                if not d.folds:
                    raise
                raise UserError(f"data.folds={d.folds}: {e}") from None
            self._parts = {split: [examples[i] for i in rows] for split, rows in index.items()}
        return self._parts

    def read(self, split: str) -> list[CallSequence]:
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        if split == "valid" and self.data.valid:
            return read_call_file(self.data.valid, self.data.valid_labels)
        if split == "test" and self.data.test:
            return read_call_file(self.data.test, self.data.test_labels)
        return self._partition()[split]

    def read_file(self, split: str, path: str) -> list[CallSequence]:
        """`rnnlab evaluate --data FILE`: a JSONL file (labels inside)."""
        if not is_jsonl(path):
            raise UserError(f"--data {path}: give a JSONL file of {{\"calls\", \"label\"}} objects (a calls file "
                            "needs its labels file: set data.test and data.test_labels instead)")
        return read_calls_jsonl(path)

    def fit(self, train_examples: list[CallSequence]) -> None:
        from collections import Counter

        counts: Counter = Counter()
        for e in train_examples:
            ids, n = np.unique(e.calls, return_counts=True)
            counts.update({str(int(i)): int(c) for i, c in zip(ids, n)})
        self.calls = Vocab.from_counts(counts, min_count=self.data.min_count)
        self.families = Vocab(sorted({e.label for e in train_examples}), pad=None, unk=None)
        self.api_names = read_api_index(self.data.api_index) if self.data.api_index else {}
        m = self.model_config
        self.bag = CallBag.fit([e.calls for e in train_examples], m.bag_size, m.bag_ngrams) if m.bag_size else None
        self._lut = None

    def _ids(self, calls: np.ndarray) -> np.ndarray:
        """Raw API ids -> vocabulary ids, unknown ids -> <unk> (never raises)."""
        if self._lut is None:
            known = [(int(t), i) for i, t in enumerate(self.calls.itos) if t.isdigit()]
            self._lut = np.full(max([k for k, _ in known], default=0) + 1, self.calls.unk_id, dtype=np.int64)
            for raw, i in known:
                self._lut[raw] = i
        inside = calls < len(self._lut)
        return np.where(inside, self._lut[np.where(inside, calls, 0)], self.calls.unk_id)

    def _features(self, calls: np.ndarray) -> dict[str, Any]:
        calls = np.asarray(calls, dtype=np.int64)
        chunks, runs = cut(calls, self.data)
        bag = {"bag": self.bag.vector(calls)} if self.bag is not None else {}  # the whole sequence, not the cut
        return {"raw": [c.tolist() for c in chunks], "ids": [self._ids(c).tolist() for c in chunks],
                "runs": [np.log1p(r).astype(np.float32).tolist() for r in runs], **bag}

    def encode(self, example: CallSequence) -> dict[str, Any]:
        if example.label not in self.families:
            raise UserError(f"family {example.label!r} (line {example.line}) does not occur in the training data; "
                            f"known families: {', '.join(self.families.itos)}")
        f = self._features(example.calls)
        del f["raw"]
        return {**f, "family": self.families.index(example.label)}

    def length(self, features: dict[str, Any]) -> int:
        return sum(len(c) for c in features["ids"])

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        B = len(features)
        K = max(len(f["ids"]) for f in features)
        L = max(len(c) for f in features for c in f["ids"])
        tokens = torch.full((B, K, L), self.calls.pad_id, dtype=torch.long)  # (B, K, L)
        runs = torch.zeros(B, K, L)  # (B, K, L) log(1 + run length)
        lengths = torch.zeros(B, K, dtype=torch.long)  # (B, K), 0 = no chunk
        for b, f in enumerate(features):
            for k, (ids, r) in enumerate(zip(f["ids"], f["runs"])):
                tokens[b, k, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                runs[b, k, : len(r)] = torch.tensor(r)
                lengths[b, k] = len(ids)
        batch = {"tokens": tokens, "lengths": lengths, "runs": runs}
        if self.bag is not None:
            bag = torch.zeros(B, len(self.bag))  # (B, F): each sequence's sparse bag, dense
            for b, f in enumerate(features):
                idx, values = f["bag"]
                bag[b, idx] = torch.tensor(values, dtype=torch.float32)
            batch["bag"] = bag
        if "family" in features[0]:
            batch["family"] = torch.tensor([f["family"] for f in features], dtype=torch.long)  # (B,)
        return batch

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> CallsModel:
        cfg = CallsModelConfig(**{**self.model_config.__dict__, "cell": self.cell})
        return CallsModel(len(self.calls), len(self.families), cfg, self.calls.pad_id, self.calls.unk_id,
                          n_bag=len(self.bag) if self.bag is not None else 0)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        logits = model(batch["tokens"], batch["lengths"], batch["runs"], batch.get("bag"))
        total = F.cross_entropy(logits.float(), batch["family"], reduction="sum")
        return LossOutput(total, int(batch["family"].shape[0]))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        loss_sum, n_cls = 0.0, len(self.families)
        confusion = torch.zeros(n_cls, n_cls, dtype=torch.long)  # [true, predicted]
        for batch in batches:
            logits = model(batch["tokens"], batch["lengths"], batch["runs"], batch.get("bag"))
            loss_sum += F.cross_entropy(logits.float(), batch["family"], reduction="sum").item()
            confusion += confusion_matrix(batch["family"], logits.argmax(-1), n_cls)
        n = int(confusion.sum())
        return {"accuracy": accuracy(confusion), "loss": loss_sum / max(n, 1), "macro_f1": macro_f1(confusion),
                "n": n}

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> str:
        """A sequence of ids separated by commas / spaces; checked here (one line on a bad id), kept as
        text so the prediction can quote it."""
        if not isinstance(text, str):
            raise UserError(f"expected API-call ids as text, got {type(text).__name__}")
        parse_calls(text)
        return text

    def input_length(self, input: Any) -> int:
        """The calls the model reads (after cutting runs and the strategy), not the calls given: a pasted
        10,000-call sequence costs what its max_calls (or chunks) cost."""
        chunks, _ = cut(self._as_calls(input), self.data)
        return sum(len(c) for c in chunks)

    def inputs_from_file(self, path: str) -> list[tuple[str, np.ndarray]]:
        """`rnnlab predict BUNDLE calls.txt`: one input per line of a calls file (or JSONL), named FILE:LINE."""
        p = check_input_file(path)
        if is_jsonl(p):
            return [(f"{path}:{e.line}", e.calls) for e in read_calls_jsonl(p, labelled=False)]
        return [(f"{path}:{line}", calls) for line, calls in read_call_lines(p)]

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, np.ndarray]]:
        """An uploaded calls file (one sequence a line, or JSONL; gzipped or not) -> one input per sequence."""
        return [(f"{name}:{e.line}", e.calls) for e in calls_from_bytes(data, name)]

    @staticmethod
    def _as_calls(input: Any) -> np.ndarray:
        if isinstance(input, str):
            try:
                return parse_calls(input)
            except DataError as e:
                raise UserError(e.problem) from None
        calls = np.asarray(input)
        if calls.ndim != 1 or calls.size == 0 or not np.issubdtype(calls.dtype, np.integer) or calls.min() < 0:
            raise UserError("expected a non-empty sequence of non-negative integer API-call ids")
        return calls.astype(np.int64)

    def _name(self, raw: int) -> str:
        return self.api_names.get(raw, str(raw))

    def _text(self, input: Any) -> str:
        if isinstance(input, str):
            return input
        shown = ",".join(str(int(c)) for c in np.asarray(input)[:SHOWN_TEXT])
        return shown + (f",... ({len(input)} calls)" if len(input) > SHOWN_TEXT else "")

    def predict(self, model: nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        """For each sequence: the family as `answer`, every family in `ranking` (also on the last of `steps`,
        where the studio draws it), and in `tokens` the calls the model read (after cutting runs and the
        strategy: at most max_calls or max_chunks x chunk_size), named by the API index if the bundle has
        one; `unknown` marks calls unseen in training."""
        return self.predict_graphs(torch_graphs(self, model), inputs)

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[Any]) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": tokens, lengths[, runs][, bag] -> logits), PyTorch's
        (runtime.torch_graphs) or an export's in onnxruntime: the same answers."""
        # the graph takes the log run lengths and the bag only when the model reads them
        extra = (["runs"] if self.model_config.run_feature else []) + (["bag"] if self.bag is not None else [])
        return self._predict(inputs, lambda batch: graphs["model"](
            batch["tokens"], batch["lengths"], *(batch[k] for k in extra))[0])

    def _predict(self, inputs: list[Any], logits: Any) -> list[dict[str, Any]]:
        """`predict`'s answers, with `logits(batch)` -> (B, C) the network on `collate`'s batch (PyTorch's model or
        an export's graph): the inputs cut and encoded, PREDICT_BATCH at a time, and the answers decoded."""
        inputs = list(inputs)
        if len(inputs) > PREDICT_BATCH:  # a whole calls file: batches of bounded size, memory stays bounded
            return [p for i in range(0, len(inputs), PREDICT_BATCH)
                    for p in self._predict(inputs[i:i + PREDICT_BATCH], logits)]
        if not inputs:
            return []
        feats = [self._features(self._as_calls(x)) for x in inputs]
        probs = logits(self.collate(feats)).float().softmax(-1)  # (B, C)
        out = []
        for b, (x, f) in enumerate(zip(inputs, feats)):
            raw = [c for chunk in f["raw"] for c in chunk]
            ids = [i for chunk in f["ids"] for i in chunk]
            ranking = labels(self.families.itos, probs[b])
            tokens = [self._name(c) for c in raw]
            # the decision is made once, after the last call read: only that step carries a ranking
            steps = [{"token": t} for t in tokens[:-1]] + [{"token": tokens[-1], "ranking": ranking}]
            out.append({"task": self.name, "text": self._text(x), "tokens": tokens,
                        "unknown": [i == self.calls.unk_id for i in ids], "steps": steps,
                        "answer": ranking[0], "answer_kind": "family", "ranking": ranking})
        return out

    def trace(self, model: nn.Module, input: Any) -> dict[str, Any]:
        """`predict`'s output plus every layer's states (and gates) per call read, from the glass engine;
        chunks are traced one by one and their steps joined in reading order."""
        pred = self.predict(model, [input])[0]
        f = self._features(self._as_calls(input))
        device = next(model.parameters()).device
        per_chunk = []
        with torch.no_grad(), eval_mode(model):
            for ids, runs in zip(f["ids"], f["runs"]):
                x = model.embed(torch.tensor([ids], device=device), torch.tensor([runs], device=device))  # (1, L, E)
                per_chunk.append(trace_layers(model.core.encoder.trace(x, lengths=torch.tensor([len(ids)]))))
        layers = per_chunk[0]
        for more in per_chunk[1:]:
            for layer, extra in zip(layers, more):
                for key in ("h", "c"):
                    if key in layer:
                        layer[key] = layer[key] + extra[key]
                for gate in layer["gates"]:
                    layer["gates"][gate] = layer["gates"][gate] + extra["gates"][gate]
        return {**pred, "cell": self.cell, "layers": layers}

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """A batch of cut sequences in (`collate`'s tensors: chunks of vocabulary ids, their lengths, and the log
        run lengths when model.run_feature is on), the families' logits out. Cutting (data.strategy) and mapping
        raw API ids to vocab.calls ids stay outside the graph, as in `predict`."""
        runs = model.run_embed is not None
        inputs = (ExportTensor("tokens", "int64", ("batch", "chunks", "time"), "call ids (vocab.calls) per chunk"),
                  ExportTensor("lengths", "int64", ("batch", "chunks"), "each chunk's length, 0 = no chunk; "
                                                                         "real chunks first"))
        if runs:
            inputs += (ExportTensor("runs", "float32", ("batch", "chunks", "time"), "log(1 + run length) per call"),)
        if model.bag_head is not None:
            inputs += (ExportTensor("bag", "float32", ("batch", "ngrams"), "the whole sequence's TF-IDF n-gram "
                                                                             "vector (bag.ngrams)"),)
        return ExportGraph(_Exported(model), inputs=inputs, outputs=(
            ExportTensor("logits", "float32", ("batch", "families"), "family logits (vocab.families)"),))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Sequences of known API calls (with repeats, so that runs are cut), the first `length` calls long."""
        rng = np.random.default_rng(seed)
        known = np.array([int(t) for t in self.calls.itos if t.isdigit()], dtype=np.int64)
        sizes = [length] + list(rng.integers(1, length + 1, batch_size - 1))
        features = [self._features(np.repeat(rng.choice(known, n), rng.integers(1, 3, n))[:n]) for n in sizes]
        batch = self.collate(features)
        return {k: batch[k] for k in ("tokens", "lengths", "runs", "bag") if k in batch}

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        bag = {"bag.ngrams": self.bag.to_json()} if self.bag is not None else {}  # model.bag_size > 0 only
        return {"vocab.calls": self.calls.to_json(), "vocab.families": self.families.to_json(),
                "api.names": {str(k): v for k, v in sorted(self.api_names.items())}, **bag}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("vocab.calls", "vocab.families", "api.names"):
            if key not in state:
                raise ValueError(f"missing {key}")
        self.calls = Vocab.from_json(state["vocab.calls"])
        self.families = Vocab.from_json(state["vocab.families"])
        names = state["api.names"]
        if not isinstance(names, dict) or not all(k.isdigit() and isinstance(v, str) for k, v in names.items()):
            raise ValueError("api.names must map id strings to names")
        self.api_names = {int(k): v for k, v in names.items()}
        if self.calls.pad_id is None or self.calls.unk_id is None:
            raise ValueError("vocab.calls needs pad and unk tokens")
        if bool(self.model_config.bag_size) != ("bag.ngrams" in state):
            raise ValueError("model.bag_size and the bag.ngrams file disagree (one without the other)")
        self.bag = CallBag.from_json(state["bag.ngrams"]) if "bag.ngrams" in state else None
        self._lut = None
