"""Log anomaly detection in the manner of DeepLog (Du et al. 2017): a next-event model over log event ids.

A log parser turns each log line into an event id (its template); a session (an HDFS block, an OpenStack
VM instance) is the sequence of its events. A recurrent language model over event ids is trained on
NORMAL sessions only; at detection time it reads a session and, at every position, ranks the events it
expected next. DeepLog's rule: a session is abnormal when some true next event is outside the model's
top g predictions. Beside the rule each event gets a likelihood score, its surprise -log p(event | the
h events before it), so that thresholds can be swept (ROC / PR curves): the session's score is its
largest surprise.

    window (N, h) event ids -> embed (N, h, E) -> Recurrent (N, h, H) -> last step (N, H) -> head (N, V)
                                                                       logits over the next event (or </s>)

Windows, as DeepLog: the next event is predicted from the h events before it (h = model.window; DeepLog
used h = 10, g = 9, a 2-layer LSTM of 64 units). A session of n events gives n + 1 windows, over
[<s>] * h + events:

    window j = (that sequence)[j : j + h]  ->  target j = event j (j < n), or </s> (j = n)

Two choices, and why:
- Sessions (and the first h - 1 positions of every session) are left-padded with a start symbol <s>,
  not skipped: every window then has exactly h inputs (one dense (N, h) tensor, no packing), the first
  events of a session are predicted too (an abnormal first event is caught), and the number of <s>
  tells the model how far into the session it is.
- The end of the session is predicted as one more event, </s>: a session cut short (many abnormal HDFS
  sessions are "5 22 5") is then as surprising as a wrong event, which a model of next events alone
  cannot see. Its rank and surprise count in the verdict and the score; `predict` reports them in
  `scores` (end_rank, end_surprise), and `steps` has one entry per event of the input.

Unknown events (well-formed ids never seen in training) never raise: they are read as <unk>, and as a
true next event they are maximally surprising (rank beyond every event, surprise MAX_SURPRISE, the
largest any event can have): an event the normal logs never held is DeepLog's first sign of an anomaly.
A token that is not an event id at all (a word, a file path typed where a session was meant) is no such
sign: it is refused (rnnlab.readers.sessions.parse_session), never scored as an "abnormal" session.

Length-robust scores and a threshold (system-call traces, ADFA-LD: Kim et al. 2016). The largest surprise grows
with a session's length (a trace of 400 calls almost always holds one unusual call), so on traces of very unequal
length it ranks long normal traces above short attacks. `model.score` picks the session score: "max" (DeepLog's,
the default), "mean" (the mean per-event surprise: the per-event negative log-likelihood) or "qNN" (the NN-th
percentile of the per-event surprises). With `model.verdict = "threshold"` a session is abnormal when its score is
above a threshold set after training at the false-positive rate `model.fpr` on the validation sessions: normal
TRAINING sessions held out of training (never the test split), recorded in the bundle and in the run's summary.

Rare events as <unk> (`model.min_count` > 1): events seen fewer than min_count times in training are read as
<unk>, so the model learns how likely "some rare event" is; an event never seen at detection time is then
scored as that learned <unk>, not as an automatic alarm (min_count = 1 keeps DeepLog's rule above).

The whole session in one pass (`model.window = 0`): instead of windows of h events, the model reads [<s>] + the
session once, its state carried from the first event to the last, and predicts every next event (and </s>)
from everything before it: n steps per session instead of n * h, and no horizon to the context.

    session (B, T) ids, <s> first -> embed (B, T, E) -> Recurrent (B, T, H) -> head (B, T, V)

Data (rnnlab.readers.sessions): with `data.format = "lines"` one session per line, `e1 e2 ...` (DeepLog's HDFS files) or
`id,e1 e2 ...` (loghub's OpenStack). Training and validation sessions are normal; the test split joins
`test_normal`, `test_abnormal` and, with `normal_holdout`, the last part of the train file (never
trained on: HDFS comes without normal test sessions, so these measure the false-positive rate), cut by
rnnlab.readers.splits. `evaluate` measures the sessions' verdicts and scores with
rnnlab.detectors.metrics.session_metrics, as the detectors' baselines are measured. With `data.format = "traces"`
each file is one session and a path names a file or a directory of them (ADFA-LD's layout, read_traces).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks, limits
from rnnlab.detectors.metrics import ABNORMAL, NORMAL, UNLABELLED, session_metrics
from rnnlab.detectors.thresholds import threshold_at_fpr
from rnnlab.errors import DataError, UserError
from rnnlab.explain import eval_mode, trace_layers
from rnnlab.files import decode_text
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.sessions import (
    SHAPE,
    parse_events,
    parse_session,
    read_event_names,
    read_sessions,
    read_traces,
    trace_from_bytes,
)
from rnnlab.readers.splits import hold_out, hold_out_last
from rnnlab.runtime import Graph, torch_graphs
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Option, Task, labels
from rnnlab.vocab import Vocab

START, END = "<s>", "</s>"
MIN_PROBABILITY = 1e-12  # probabilities are floored here, so no surprise is infinite
MAX_SURPRISE = -math.log(MIN_PROBABILITY)  # ~27.6 nats: the surprise of an unknown event
WINDOWS_PER_CHUNK = 8192  # windows scored per forward pass at detection time (bounded memory)
FORMATS = ("lines", "traces")
VERDICTS = ("top_g", "threshold")


# the network as `_score` calls it: windows (N, h) event ids -> logits of the next event (N, V)
Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LogData:
    """Where the sessions are. Paths: see rnnlab.readers.paths ($RNNLAB_DATA, "package:")."""

    train: str = ""  # normal sessions
    valid: str = ""  # normal sessions for early stopping; "" = hold out `valid_fraction` of train (fixed seed)
    valid_fraction: float = 0.1
    normal_holdout: float = 0.0  # the LAST fraction of the train file's sessions: never trained on, tested as normal
    test_normal: str = ""
    test_abnormal: str = ""
    format: str = "lines"  # "lines": one session a line (HDFS, OpenStack); "traces": one a file, a directory of them
    # what each event id stands for, shown beside it (predict's steps, detect --json, the studio): a file of `NUMBER
    # NAME` lines or a C header of system-call numbers (rnnlab.readers.sessions.read_event_names); kept in the bundle.
    # ADFA-LD's traces are i386 system calls: "package:syscalls/linux_i386.txt"
    event_names: str = ""


@dataclass
class LogModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru ("rnn" = rnn_tanh); DeepLog: LSTM
    embed_size: int = 16  # DeepLog fed one-hot events; a small embedding does the same job with fewer weights
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.0  # between layers (num_layers >= 2) and before the head
    window: int = 10  # h: the next event is predicted from the h events before it; 0 = the whole session, state carried
    top_g: int = 9  # g: a true next event outside the top g makes the session abnormal (verdict "top_g")
    engine: str = "auto"  # "auto" (native where faster, else fused) | "fused" | "glass" | "native"; same weights
    min_count: int = 1  # events seen fewer times in training are <unk> (learned); 1 = an unknown event is an alarm
    score: str = "max"  # the session score: "max" | "mean" | "qNN" (NN-th percentile) of the per-event surprises
    verdict: str = "top_g"  # "top_g" (DeepLog's rule) | "threshold" (score above a threshold set at `fpr`)
    fpr: float = 0.01  # verdict "threshold": the false-positive rate on held-out normal (valid) sessions


@dataclass
class LogSession:
    tokens: list[str]  # event ids as strings ("5"), the vocabulary's tokens
    id: str  # the file's session id or its line number
    label: int  # NORMAL, ABNORMAL, or UNLABELLED (a file given to `evaluate --data`)


def quantile_of(score: str) -> float | None:
    """"q95" -> 0.95; "max" and "mean" -> None. ValueError on anything else."""
    if score in ("max", "mean"):
        return None
    match = re.fullmatch(r"q([0-9]{1,2}(?:\.[0-9]+)?)", score)
    if not match or not 0 < float(match[1]) < 100:
        raise ValueError(score)
    return float(match[1]) / 100


def session_score(surprises: list[float], score: str) -> float:
    """A session's score from its per-event surprises (n + 1: every event and </s>), by `model.score`."""
    q = quantile_of(score)
    if q is not None:
        return float(np.quantile(np.asarray(surprises, dtype=np.float64), q))
    return float(max(surprises) if score == "max" else sum(surprises) / len(surprises))


class NextEventModel(nn.Module):
    """Embedding -> Recurrent over a window of h events -> linear head on the last step: the next event.
    With window = 0 the same layers read whole sessions and the head predicts after every step."""

    def __init__(self, vocab_size: int, cfg: LogModelConfig, pad_id: int):
        super().__init__()
        self.whole = cfg.window == 0
        self.embed = nn.Embedding(vocab_size, cfg.embed_size, padding_idx=pad_id)
        self.encoder = build_recurrent(RecurrentConfig.of(cfg), cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows (N, h) ids -> logits (N, V) over the event after each window; whole sessions (B, T) ids
        (<s> first, padded at the end) -> logits (B, T, V) over the event after each position."""
        out, _ = self.encoder(self.embed(windows))  # (N, h, H); every window is full (padded with <s>)
        # whole sessions: left to right, so the padding after a session never reaches its own positions
        return self.head(self.drop(out if self.whole else out[:, -1]))  # (B, T, V) or (N, V)


class LogAnomalyTask(Task):
    """Next-event language model over log event ids trained on normal sessions; DeepLog's top-g rule."""

    name = "log_anomaly"
    DataConfig = LogData
    ModelConfig = LogModelConfig
    metric = "loss"  # next-event loss on (normal) valid sessions: there are no abnormal ones to select on
    metric_mode = "min"
    input_kind = "sessions"  # a line `e1 e2 ...` or `id,e1 e2 ...`; a file of them (rnnlab.readers.sessions)
    options = (Option("top_g", int, "abnormal when a true event is outside the top g guesses (default: the "
                                    "bundle's model.top_g)", minimum=1),
               Option("rankings", bool, "each event's top-g guesses in steps (default true; false for big files)"))

    @classmethod
    def ignored_keys(cls, data: LogData, model: LogModelConfig) -> dict[str, str]:
        out = {"data.valid_fraction": "data.valid names the validation file"} if data.valid else {}
        if model.verdict == "top_g":
            out["model.fpr"] = 'model.verdict = "top_g" sets no threshold (model.verdict = "threshold" does)'
        return out

    def __init__(self, data: LogData, model: LogModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers", "top_g", "min_count"),
                          rates=("dropout",))
        for key in ("valid_fraction", "normal_holdout"):
            if not 0.0 <= getattr(data, key) < 1.0:
                raise UserError(f"data.{key} must be in [0, 1), got {getattr(data, key)}")
        if not isinstance(model.window, int) or isinstance(model.window, bool) or model.window < 0:
            raise UserError(f"model.window must be an integer >= 0 (0 = the whole session), got {model.window!r}")
        checks.one_of("data.format", data.format, FORMATS)
        checks.one_of("model.verdict", model.verdict, VERDICTS)
        try:
            quantile_of(model.score)
        except ValueError:
            raise UserError(f"model.score must be max, mean or qNN (a percentile, e.g. q95), "
                            f"got {model.score!r}") from None
        if not 0.0 < model.fpr < 1.0:
            raise UserError(f"model.fpr must be in (0, 1), got {model.fpr}")
        if model.verdict == "threshold" and not (data.valid or data.valid_fraction > 0):
            raise UserError('model.verdict = "threshold" sets its threshold on held-out normal sessions: '
                            "set data.valid_fraction > 0 (or data.valid)")
        self.events: Vocab | None = None
        self.threshold: float | None = None  # verdict "threshold": set by `calibrate` after training
        self.names: dict[str, str] = {}  # event token ("3") -> its name ("read"), from data.event_names

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        out = ["train"]
        if self.data.valid or self.data.valid_fraction > 0:
            out.append("valid")
        if self.data.test_normal or self.data.test_abnormal or self.data.normal_holdout > 0:
            out.append("test")
        return out

    def _read_file(self, path_text: str, label: int) -> list[LogSession]:
        read = read_traces if self.data.format == "traces" else read_sessions
        return [LogSession([str(e) for e in s.events], s.id, label) for s in read(resolve_path(path_text))]

    def _train_parts(self) -> tuple[list[LogSession], list[LogSession], list[LogSession]]:
        """(train, valid, normal holdout) from the train file."""
        if not self.data.train:
            raise UserError("data.train is not set: a file of normal sessions, one per line (or, with "
                            'data.format = "traces", a directory of trace files)')
        sessions, held_out = hold_out_last(self._read_file(self.data.train, NORMAL), self.data.normal_holdout)
        # seed 0, independent of the training seed: the validation set never moves
        train, valid = hold_out(sessions, 0.0 if self.data.valid else self.data.valid_fraction, seed=0)
        return train, valid, held_out

    def read(self, split: str) -> list[LogSession]:
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        if split == "valid" and self.data.valid:
            return self._read_file(self.data.valid, NORMAL)
        train, valid, held_out = self._train_parts()
        if split == "train":
            return train
        if split == "valid":
            return valid
        out = list(held_out)
        if self.data.test_normal:
            out += self._read_file(self.data.test_normal, NORMAL)
        if self.data.test_abnormal:
            out += self._read_file(self.data.test_abnormal, ABNORMAL)
        return out

    def read_file(self, split: str, path: str) -> list[LogSession]:
        """`rnnlab evaluate --data FILE`: FILE's sessions, unlabelled (evaluate reports the loss and how
        many the rule flags)."""
        return self._read_file(path, UNLABELLED)

    def fit(self, train_examples: list[LogSession]) -> None:
        # min_count > 1: rare events become <unk> in training, so <unk> is learned (module docstring)
        self.events = Vocab.build((s.tokens for s in train_examples), min_count=self.model_config.min_count,
                                  specials=(START, END))
        if self.data.event_names:
            self.names = {str(k): v for k, v in read_event_names(resolve_path(self.data.event_names)).items()}
            self.fit_notes = [names_note(self.data.event_names, self.names, train_examples)]

    def encode(self, example: LogSession) -> dict[str, Any]:
        return {"ids": self.events.encode(example.tokens), "label": example.label}

    def length(self, features: dict[str, Any]) -> int:
        return len(features["ids"])

    def _windows(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A session's n event ids -> (windows (n + 1, h), targets (n + 1,)): see the module docstring."""
        h = self.model_config.window
        seq = torch.tensor([self.events.stoi[START]] * h + list(ids), dtype=torch.long)  # (h + n,)
        windows = seq.unfold(0, h, 1)[: len(ids) + 1]  # (n + 1, h): window j = seq[j : j + h]
        targets = torch.tensor(list(ids) + [self.events.stoi[END]], dtype=torch.long)  # (n + 1,)
        return windows, targets

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """All windows of all sessions of the batch, flattened: every tensor's dim 0 is a window (N). With
        window = 0, "tokens" (B, T) = [<s>] + each session, padded at the end, and "mask" (B, T) its real positions
        instead of windows: tokens[mask] lists the N positions in the order of targets, session and label."""
        windows, targets, session, label = [], [], [], []
        for b, f in enumerate(features):
            if self.model_config.window:
                w, t = self._windows(f["ids"])
                windows.append(w)
            else:
                t = torch.tensor(list(f["ids"]) + [self.events.stoi[END]], dtype=torch.long)  # (n + 1,)
            targets.append(t)
            session.append(torch.full((len(t),), b, dtype=torch.long))
            label.append(torch.full((len(t),), f.get("label", UNLABELLED), dtype=torch.long))
        out = {"targets": torch.cat(targets),  # (N,)
               "session": torch.cat(session), "label": torch.cat(label)}  # (N,) index in the batch, its label
        if self.model_config.window:
            return {"windows": torch.cat(windows), **out}  # (N, h)
        longest = max(len(t) for t in targets)
        tokens = torch.full((len(features), longest), self.events.pad_id, dtype=torch.long)  # (B, T)
        for b, f in enumerate(features):
            tokens[b, : len(f["ids"]) + 1] = torch.tensor([self.events.stoi[START]] + list(f["ids"]))
        return {"tokens": tokens, "mask": tokens != self.events.pad_id, **out}

    def _logits(self, logits_of: Logits, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The next event's logits (N, V) at every position of a collated batch, in the order of its targets:
        one call of `logits_of` (the model, or an export's graph) on its windows or whole sessions."""
        if self.model_config.window:
            return logits_of(batch["windows"])  # (N, V)
        out = logits_of(batch["tokens"])  # (B, T, V)
        return out[batch["mask"].to(out.device)]  # (N, V): row-major, session by session

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> NextEventModel:
        cfg = LogModelConfig(**{**self.model_config.__dict__, "cell": self.cell})
        return NextEventModel(len(self.events), cfg, self.events.pad_id)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        logits = self._logits(model, batch)  # (N, V)
        total = F.cross_entropy(logits.float(), batch["targets"], reduction="sum")
        return LossOutput(total, int(batch["targets"].shape[0]))

    def _rank_surprise(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits (N, V), targets (N,) -> (rank (N,) 1 = the model's first guess, surprise (N,) in nats).
        An unknown target ranks behind every event (V + 1) with MAX_SURPRISE."""
        logp = logits.float().log_softmax(-1)  # (N, V)
        true = logp.gather(1, targets[:, None])  # (N, 1)
        rank = (logp > true).sum(-1) + 1  # (N,)
        surprise = (-true[:, 0]).clamp(max=MAX_SURPRISE)
        if self.model_config.min_count > 1:  # <unk> was learned: it is scored as the model predicted it
            return rank, surprise
        unknown = targets == self.events.unk_id
        rank = torch.where(unknown, torch.full_like(rank, len(self.events) + 1), rank)
        surprise = torch.where(unknown, torch.full_like(surprise, MAX_SURPRISE), surprise)
        return rank, surprise

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        g = self.model_config.top_g
        loss_sum, n_windows, n_hit = 0.0, 0, 0
        flagged: list[bool] = []
        scores: list[float] = []
        session_labels: list[int] = []
        for batch in batches:
            logits = self._logits(model, batch)
            loss_sum += F.cross_entropy(logits.float(), batch["targets"], reduction="sum").item()
            rank, surprise = self._rank_surprise(logits, batch["targets"])
            n_windows += int(rank.numel())
            n_hit += int((rank <= g).sum())
            for b in torch.unique(batch["session"]).tolist():
                at = batch["session"] == b
                flagged.append(bool((rank[at] > g).any()))
                scores.append(session_score(surprise[at].tolist(), self.model_config.score))
                session_labels.append(int(batch["label"][at][0]))
        out = {"loss": loss_sum / max(n_windows, 1), "top_g_accuracy": n_hit / max(n_windows, 1),
               "sessions": float(len(scores))}
        verdicts: np.ndarray | None = np.array(flagged)
        if self.model_config.verdict == "threshold":
            # before `calibrate` (the epochs' validation) there is no threshold yet: no verdicts, scores only
            verdicts = None if self.threshold is None else np.array(scores) > self.threshold
            if self.threshold is not None:
                out["threshold"] = self.threshold
        if verdicts is not None:
            out["flagged_rate"] = float(np.mean(verdicts)) if len(verdicts) else 0.0
        return {**out, **session_metrics(verdicts, np.array(scores), np.array(session_labels))}

    @torch.no_grad()
    def calibrate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Verdict "threshold": the threshold at false-positive rate model.fpr on these normal held-out sessions'
        scores (the trainer passes the validation split, never test), kept for the bundle; what it set."""
        if self.model_config.verdict != "threshold":
            return {}
        scores = []
        for batch in batches:
            _, surprise = self._rank_surprise(self._logits(model, batch), batch["targets"])
            for b in torch.unique(batch["session"]).tolist():
                scores.append(session_score(surprise[batch["session"] == b].tolist(), self.model_config.score))
        self.threshold = threshold_at_fpr(scores, self.model_config.fpr)
        return {"threshold": self.threshold, "fpr_target": self.model_config.fpr, "sessions": float(len(scores)),
                "fpr_on_held_out": float(np.mean(np.array(scores) > self.threshold))}

    # ---- detection --------------------------------------------------------------------------

    def score_sessions(self, model: nn.Module, token_lists: list[list[str]], *, top_k: int = 0) -> list[dict[str, Any]]:
        """Per session: per event (rank, surprise), the end's (rank, surprise) and, with top_k > 0, the
        top_k next events after each event (probabilities (n, V) are kept only then). Batched in chunks
        of about WINDOWS_PER_CHUNK windows, so memory stays bounded for any number of sessions."""
        return self._score(_graph_logits(torch_graphs(self, model)["model"]), token_lists, top_k=top_k)

    def _score(self, logits_of: Logits, token_lists: list[list[str]], *, top_k: int = 0) -> list[dict[str, Any]]:
        """`score_sessions` with the network run by `logits_of` (the model's export graph, PyTorch's or
        onnxruntime's, `_graph_logits`; float32 on the CPU): windows (N, h) -> the next event's logits (N, V).
        Whole sessions (window = 0) are run in order of length, so a chunk pads its sessions to about their own
        length (traces differ 50-fold)."""
        results: list[dict[str, Any] | None] = [None] * len(token_lists)
        chunk: list[tuple[int, list[int]]] = []  # (position in token_lists, ids)

        def flush() -> None:
            if not chunk:
                return
            batch = self.collate([{"ids": ids} for _, ids in chunk])
            logits = self._logits(logits_of, batch)  # (N, V)
            rank, surprise = self._rank_surprise(logits, batch["targets"])
            probs = logits.softmax(-1) if top_k else None
            start = 0
            for at, ids in chunk:
                n = len(ids)
                part = slice(start, start + n + 1)
                item = {"rank": rank[part][:n].tolist(), "surprise": surprise[part][:n].tolist(),
                        "end_rank": int(rank[part][n]), "end_surprise": float(surprise[part][n])}
                if probs is not None:
                    item["next"] = probs[start + 1: start + n + 1]  # (n, V): after reading each event
                results[at] = item
                start += n + 1
            chunk.clear()

        size = 0
        order = range(len(token_lists))
        if not self.model_config.window:
            order = sorted(order, key=lambda i: len(token_lists[i]))
        for i in order:
            chunk.append((i, self.events.encode(token_lists[i])))
            size += len(token_lists[i]) + 1
            if size >= WINDOWS_PER_CHUNK:
                flush()
                size = 0
        flush()
        return results  # type: ignore[return-value]: every position is filled

    def verdict(self, scored: dict[str, Any], top_g: int | None = None) -> dict[str, Any]:
        """A session's verdict (the top-g rule, or its score above the bundle's threshold) and its scores, from
        one `score_sessions` item."""
        g = self.model_config.top_g if top_g is None else top_g
        ranks = scored["rank"] + [scored["end_rank"]]
        surprises = scored["surprise"] + [scored["end_surprise"]]
        worst = max(surprises)
        score = session_score(surprises, self.model_config.score)
        if self.model_config.verdict == "threshold":
            if self.threshold is None:
                raise UserError('this bundle has model.verdict = "threshold" but no threshold: it was trained '
                                "without held-out normal sessions to set one on")
            abnormal = score > self.threshold
        else:
            abnormal = max(ranks) > g
        return {"abnormal": abnormal, "score": score, "max_surprise": worst, "worst_rank": max(ranks), "top_g": g,
                "least_likely_probability": math.exp(-worst), "mean_surprise": sum(surprises) / len(surprises),
                "end_rank": scored["end_rank"], "end_surprise": scored["end_surprise"]}

    # ---- user input -------------------------------------------------------------------------

    def _tokens(self, text: Any) -> list[str]:
        """A session typed as text -> its events as the vocabulary's tokens ("05" -> "5"); UserError naming the
        input and what a session looks like when it is not one (a word, a path: no event ids)."""
        if not isinstance(text, str):
            raise UserError(f"expected a session as text ({SHAPE}), got {type(text).__name__}")
        try:
            session = parse_session(text, "", 1)
        except DataError as e:
            raise UserError(f"{text[:80]!r} is not a session: {e.problem}") from None
        return [str(e) for e in session.events]

    def parse_input(self, text: str) -> str:
        """One session typed as text (`predict BUNDLE "5 22 11"`, the studio's box), checked as a file's line
        is; kept as text so the prediction quotes it."""
        self._tokens(text)
        return text

    def check_options(self, options: dict[str, Any], called: dict[str, str] | None = None) -> dict[str, Any]:
        """The base checks, then top_g against the bundle's events and the limit max_top: a g beyond every event
        the model can guess would call every known event normal without saying so."""
        checked = super().check_options(options, called)
        g = checked.get("top_g")
        if g is not None:
            name = (called or {}).get("top_g") or "option top_g"
            guesses = len(self.events) - 3  # every event and </s>; never pad, unk or <s>
            if g > limits.current().max_top:
                raise UserError(f"{name} {g}: above the largest top-g a verb takes {limits.hint('max_top')}; "
                                f"this bundle knows {guesses - 1} events, so g is at most {guesses}")
            if g > guesses:
                raise UserError(f"{name} {g}: this bundle knows {guesses - 1} events (and the end of a session), "
                                f"so g must be in 1 .. {guesses}")
        return checked

    def input_length(self, input: str) -> int:
        return len(parse_events(str(input))[1])

    def inputs_from_file(self, path: str) -> list[tuple[str, str]]:
        """data.format "traces": a trace file, or a directory of them as training reads it -> [(its name, "name,e1 e2
        ...")]; a file of sessions otherwise (`parse_bytes`)."""
        if self.data.format != "traces" or not resolve_path(path).is_dir():
            return super().inputs_from_file(path)
        return [(s.id, _as_line(s.id, s.events)) for s in read_traces(resolve_path(path))]

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, str]]:
        """A file of sessions (checked line by line as training files are) -> [(NAME:LINE, the line)]; with
        data.format "traces" the whole file is one session, named by the file as training names it ->
        [(NAME, "BASENAME,e1 e2 ...")]."""
        from rnnlab.readers.lines import split_lines

        if self.data.format == "traces":
            trace = trace_from_bytes(data, name)
            return [(name, _as_line(PurePath(name).name, trace.events))]
        from rnnlab.readers.sessions import sessions_from_lines

        lines = split_lines(decode_text(data, name))
        return [(f"{name}:{s.line}", lines[s.line - 1]) for s in sessions_from_lines(lines, name)]

    def predict(self, model: nn.Module, inputs: list[str], *, top_g: int | None = None,
                rankings: bool = True) -> list[dict[str, Any]]:
        """For each session (`e1 e2 ...` or `id,e1 e2 ...`), the prediction schema: `answer` the verdict by
        the top-g rule ("abnormal" | "normal") with, as its probability, the probability the model gave the
        least likely true event (the end of the session included); `steps` per event: its `rank` among the
        model's guesses, its surprise (`score`, -log p in nats) and the top-g guesses after it (`ranking`);
        `scores`: the session score (max surprise), worst rank, mean surprise and the end's rank/surprise.
        rankings=False leaves the guesses out of `steps` (ranks and surprises stay): a big file costs less."""
        return self.predict_graphs(torch_graphs(self, model), inputs, top_g=top_g, rankings=rankings)

    def predict_graphs(self, graphs: dict[str, Graph], inputs: list[str], *, top_g: int | None = None,
                       rankings: bool = True) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": windows -> the next event's logits): the same verdicts, ranks,
        surprises and rankings under every option; nothing of predict's needs the PyTorch model."""
        return self._predict(_graph_logits(graphs["model"]), inputs, top_g, rankings)

    def _predict(self, logits_of: Logits, inputs: list[str], top_g: int | None,
                 rankings: bool) -> list[dict[str, Any]]:
        """`predict` with the network run by `logits_of` (see `_score`): the verdicts and their formatting."""
        inputs = list(inputs)
        token_lists = [self._tokens(t) for t in inputs]
        g = self.model_config.top_g if top_g is None else top_g
        names = list(self.events.itos)
        never = [self.events.stoi[t] for t in (self.events.pad, self.events.unk, START)]  # never a next event
        by_threshold = self.model_config.verdict == "threshold"
        threshold = {"threshold": round(self.threshold, 6)} if by_threshold and self.threshold is not None else {}
        out = []
        scored_all = self._score(logits_of, token_lists, top_k=g if rankings else 0)
        for text, tokens, scored in zip(inputs, token_lists, scored_all):
            v = self.verdict(scored, g)
            if rankings:
                nxt = scored["next"].clone()  # (n, V)
                nxt[:, never] = 0.0
            out.append({
                "task": self.name, "text": text, "tokens": tokens,
                "unknown": [t not in self.events for t in tokens],
                "answer": {"label": "abnormal" if v["abnormal"] else "normal",
                           "probability": round(min(1.0, max(0.0, math.exp(-v["score"]) if by_threshold
                                                                  else v["least_likely_probability"])), 6)},
                "answer_kind": (f"session ({self.model_config.score} surprise above the threshold; % = exp(-score))"
                                if by_threshold else "session (top-g rule; % = least likely event's p)"),
                "steps": [{"token": tok, "rank": int(r), "score": round(float(s), 6),
                           **({"name": self.names[tok]} if tok in self.names else {}),
                           **({"ranking": labels(names, nxt[i], g)} if rankings else {})}
                          for i, (tok, r, s) in enumerate(zip(tokens, scored["rank"], scored["surprise"]))],
                "scores": {"score": round(v["score"], 6), **threshold,
                           "max_surprise": round(v["max_surprise"], 6), "worst_rank": float(v["worst_rank"]),
                           "mean_surprise": round(v["mean_surprise"], 6), "end_rank": float(v["end_rank"]),
                           "end_surprise": round(v["end_surprise"], 6), "top_g": float(g)},
            })
        return out

    def trace(self, model: nn.Module, input: str) -> dict[str, Any]:
        """`predict`'s output plus each layer's state (and gates) after reading each event, from the glass
        engine: for event t the state at the end of the window that ends with it, which is exactly the
        state the model predicts event t + 1 from."""
        pred = self.predict(model, [input])[0]
        ids = self.events.encode(pred["tokens"])
        device = next(model.parameters()).device
        if not self.model_config.window:  # the whole session: the state after <s> + events 1 .. t, at step t
            tokens = torch.tensor([[self.events.stoi[START]] + ids])  # (1, n + 1)
            with torch.no_grad(), eval_mode(model):
                traced = model.encoder.trace(model.embed(tokens.to(device)))  # per step: (1, n + 1, H)
            last = {k: v[:, 1:] for k, v in traced.items() if v.dim() == 3 and k.startswith("l")}
            return {**pred, "cell": self.cell, "layers": trace_layers(last)}  # each (1, n, H)
        windows, _ = self._windows(ids)
        windows = windows[1:]  # (n, h): window t + 1 ends with event t
        with torch.no_grad(), eval_mode(model):
            traced = model.encoder.trace(model.embed(windows.to(device)))  # per step: (n, h, H)
        last = {k: v[:, -1:].transpose(0, 1) for k, v in traced.items() if v.dim() == 3 and k.startswith("l")}
        return {**pred, "cell": self.cell, "layers": trace_layers(last)}  # each (1, n, H): one step per event

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Windows of h = model.window event ids in (`_windows`: a session of n events gives n + 1, left-padded
        with <s>), the next event's logits out; ranks, surprise and the top-g verdict stay outside the graph. With
        window = 0: whole sessions in ([<s>] + events, padded at the end), the logits after every position out."""
        if not self.model_config.window:
            return ExportGraph(model, inputs=(
                ExportTensor("tokens", "int64", ("batch", "time"), "<s> then each session's event ids (vocab.events)"),
            ), outputs=(ExportTensor("logits", "float32", ("batch", "time", "events"),
                                     "logits of the event after each position, </s> included"),))
        return ExportGraph(model, inputs=(
            ExportTensor("windows", "int64", ("batch", "window"),
                         "h event ids (vocab.events) before each position, left-padded with <s>"),
        ), outputs=(ExportTensor("logits", "float32", ("batch", "events"), "logits of the next event, </s> included"),))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """The first `batch_size` windows of a session of max(length, batch_size) known events."""
        g = torch.Generator().manual_seed(seed)
        known = [i for i, t in enumerate(self.events.itos) if t not in (START, END, self.events.pad, self.events.unk)]
        if not self.model_config.window:  # whole sessions: <s> then `length` known events, one row per session
            ids = torch.tensor(known)[torch.randint(len(known), (batch_size, length), generator=g)]  # (B, length)
            return {"tokens": torch.cat([torch.full((batch_size, 1), self.events.stoi[START]), ids], 1)}
        ids = torch.tensor(known)[torch.randint(len(known), (max(length, batch_size),), generator=g)]
        return {"windows": self._windows(ids.tolist())[0][:batch_size]}

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        threshold = {} if self.threshold is None else {"threshold": self.threshold}  # verdict "threshold" only
        names = {"names.events": self.names} if self.names else {}  # data.event_names only
        return {"vocab.events": self.events.to_json(), **threshold, **names}

    def state_from_json(self, state: dict[str, Any]) -> None:
        if "vocab.events" not in state:
            raise ValueError("missing vocab.events")
        events = Vocab.from_json(state["vocab.events"])
        if events.pad_id is None or events.unk_id is None or START not in events or END not in events:
            raise ValueError(f"vocab.events needs pad, unk, {START} and {END}")
        self.events = events
        threshold = state.get("threshold")
        if threshold is not None and not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        self.threshold = None if threshold is None else float(threshold)
        names = state.get("names.events", {})
        if not (isinstance(names, dict) and all(isinstance(k, str) and k.isdigit() and isinstance(v, str) and v
                                                for k, v in names.items())):
            raise ValueError("names.events must map event ids (digits) to non-empty names")
        self.names = dict(names)


def names_note(source: str, names: dict[str, str], sessions: list[LogSession]) -> str:
    """One line for the training log: how many of the training events (and what share of their occurrences) the
    names file names. A file of another numbering names few, or the wrong ones: this line is where it shows."""
    counts: dict[str, int] = {}
    for s in sessions:
        for t in s.tokens:
            counts[t] = counts.get(t, 0) + 1
    named = [t for t in counts if t in names]
    share = sum(counts[t] for t in named) / max(1, sum(counts.values()))
    top = sorted(counts, key=counts.get, reverse=True)[:3]
    line = (f"event names from {source}: {len(named)} of the {len(counts)} events of the training sessions are "
            f"named ({share:.2%} of their occurrences); the most frequent: "
            + ", ".join(f"{t} {names.get(t, '(unnamed)')}" for t in top))
    return line if len(named) == len(counts) else "warning: " + line


def _as_line(name: str, events: Iterable[int]) -> str:
    """A trace as predict's input, `name,e1 e2 ...`: its name stays its session id (a comma in it would end the id)."""
    return f"{name.replace(',', '_')},{' '.join(map(str, events))}"


def _graph_logits(graph: Graph) -> Logits:
    """An export graph ("model": its one output, the next event's logits) as a `Logits`: the PyTorch model's
    (runtime.torch_graphs: eval mode, no gradients, its device) or an export's in onnxruntime."""
    return lambda windows: graph(windows)[0]
