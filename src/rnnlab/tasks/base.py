"""The Task interface: what every application (intent, tagging, language model, ...) implements.

A task knows its data and its model; the trainer, bundles, CLI and server know only this interface.
The data flow, and which side calls what:

    read(split)          raw file -> list of examples (task-specific objects; errors name file+line)
    fit(train_examples)  build vocabularies / statistics from the training examples (JSON-able state)
    encode(example)      example -> features (plain Python: lists of ids, ints), once per example
    length(features)     the length used to bucket examples of similar size into one batch
    batches(features, batch_size, shuffle, seed, epoch) -> list of lists of indices (default: bucketing)
    collate(features_list) -> batch: dict[str, Tensor]   (padding happens here)
    build_model()        -> torch.nn.Module (sizes come from the config and the fitted vocabularies)
    loss(model, batch, carry) -> LossOutput(total, count, carry)  summed loss, not the mean (see below)
    evaluate(model, batches) -> {metric: float}           e.g. {"accuracy": 0.97, "loss": 0.1}
    input_length(input)      -> int                       length in model units (the server's token limit)
    predict(model, inputs)   -> list of JSON-able dicts   raw user input in, decoded output out
    trace(model, input)      -> JSON-able dict            per-token states/gates/influences (optional)
    state_to_json() / state_from_json(d)                  fitted state to and from the bundle

Configuration: each task class names two dataclasses, `DataConfig` (where the data is, how to read it)
and `ModelConfig` (sizes, cell). A run's config is `task` + `[data]` + `[model]` + `[train]` (see
rnnlab.config); the task is constructed as `TaskClass(data_config, model_config)`.

Rules the trainer relies on:
- `loss` calls `model(...)` exactly once (the trainer may wrap the model in DistributedDataParallel,
  whose gradient sync is armed by the top-level forward; never call submodules directly there).
- `loss` returns the SUM of per-item losses and the item COUNT (examples, tokens, frames: whatever the
  loss averages over). The trainer divides by the count summed over all processes, so a global batch
  split over N processes gives exactly the gradient of the same batch on one process.
- `carry` is for state carried across batches (truncated BPTT in language models): the trainer passes
  back the previous step's `LossOutput.carry` (detached by the task) and None at the start of each
  epoch; tasks that do not carry state ignore it and return None.
- Everything a task writes into a bundle goes through `state_to_json`; it is plain JSON, never pickled.
- Bad user data raises `rnnlab.errors.DataError(path, line, problem)`; prediction on unknown words never
  raises (map them to an unknown token).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Sequence, TypedDict

import numpy as np
import torch

from rnnlab.errors import UserError


def bucket_batches(lengths: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0,
                   pool: int = 50) -> list[list[int]]:
    """Group example indices into batches of similar length (less padding), deterministically.

    Training (shuffle=True): shuffle all indices with (seed, epoch), cut them into pools of
    `pool * batch_size`, sort each pool by length, cut each pool into ceil(n / batch_size) batches of
    near-equal size (so there is no tiny last batch), then shuffle the order of the batches.
    Evaluation (shuffle=False): sort everything by length and cut; the order is fixed.
    The same (lengths, batch_size, seed, epoch) always gives the same batches: resuming mid-epoch
    and splitting each batch across processes both rely on that.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    if n == 0:
        return []
    lengths_arr = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n) if shuffle else np.arange(n)
    step = n if not shuffle else pool * batch_size
    batches: list[list[int]] = []
    for start in range(0, n, step):
        chunk = order[start:start + step]
        chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
        for part in np.array_split(chunk, math.ceil(len(chunk) / batch_size)):
            batches.append([int(i) for i in part])
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


@dataclass
class LossOutput:
    """What `Task.loss` returns: the summed loss over `count` items and any state to carry on."""

    total: torch.Tensor  # scalar: SUM of per-item losses (the trainer divides by the global count)
    count: int  # number of items summed in `total` (examples, tokens, frames)
    carry: Any = None  # state for the next batch (truncated BPTT); None when the task carries nothing


# ---- the prediction schema ----------------------------------------------------------------------
# What every task's `predict` returns, one dict per input, and what the CLI (`format_prediction`) and
# the studio render without knowing the task. Only the fields that mean something for a task are
# present (a tagger has spans, a language model no tags); none is ever renamed per task.

class Label(TypedDict):
    label: str  # a class, a tag, a token: what the model chose or could choose
    probability: float  # in [0, 1]


class Step(TypedDict, total=False):
    token: str  # the input token this step read
    ranking: list[Label]  # the model's guess after reading it, best first (intent so far, next token)
    tag: str  # a tagger's label for this token (BIO), when the task tags
    rank: int  # where this token stood among the model's guesses for it (1 = first guess), when it ranks them
    score: float  # how unexpected this token was (a surprise, -log p in nats; higher = more), finite


class Span(TypedDict):
    type: str  # a slot type, an entity type
    start: int  # token indices, end exclusive
    end: int
    text: str


class Influence(TypedDict):
    scores: list[float]  # per input token: how much it pushed the answer (+) or away from it (-)
    method: str  # e.g. "gradient x input"
    target: str  # the answer the scores explain


class Forecast(TypedDict, total=False):
    columns: list[str]  # the forecast columns (required)
    times: list[str]  # one per future step (required)
    steps: list[list[float]]  # one row per future step, one value per column (required)
    lower: list[list[float]]  # the interval's bounds, shaped as steps (probabilistic models)
    upper: list[list[float]]
    interval: float  # the interval's nominal coverage (0.8)
    history_times: list[str]  # the rows the forecast follows, shaped as steps
    history: list[list[float]]


class Word(TypedDict):
    word: str
    start: float  # seconds from the start of the recording
    end: float


class AudioInfo(TypedDict, total=False):
    seconds: float  # the recording's duration (required)
    frame_seconds: float  # time per model step, subsampling included (required)
    steps: int  # how many steps the model ran (required)
    symbols: list[str]  # CTC: the output symbols, the blank first (as "")
    posteriors: list[list[float]]  # CTC: per step, per symbol, p in [0, 1] (steps x symbols)
    best_path: list[int]  # CTC: the most likely symbol per step
    greedy: str  # CTC: the greedy transcript, beside the one the decoder chose
    decoder: str  # "greedy" | "beam"
    words: list[Word]  # word timings from the alignment of the transcript to the steps
    spectrogram: dict  # traces: {values: T x mels in [0, 1], frame_seconds, mels} for drawing


class Prediction(TypedDict, total=False):
    task: str  # the task's registry name (required)
    text: str  # the input as given (required)
    tokens: list[str]  # what the model read, one per step (required)
    unknown: list[bool]  # per token: not in the training vocabulary, read as <unk>
    answer: Label  # the decision: an intent, the most likely next token
    answer_kind: str  # what the answer is, in words: "intent", "next character", ...
    ranking: list[Label]  # every candidate answer (or the best few), best first
    steps: list[Step]  # one per token
    spans: list[Span]  # labelled stretches of the input (slots)
    influence: Influence
    sequence: list[str]  # an output sequence (generation, translation)
    scores: dict[str, float]  # other named numbers (an anomaly score, a log-likelihood)
    forecast: Forecast  # future values of a series (forecasting)
    audio: AudioInfo  # what the model heard: a recording's steps, CTC posteriors, word timings (speech)


PREDICTION_REQUIRED = ("task", "text", "tokens")
# What a trace may add to the prediction: the recurrent layers' states ("cell", "layers"), and for a sequence to
# sequence task the output pieces ("target_tokens", </s> included when chosen) and where each one looked
# ("attention": one row per target token, one weight per input token), and what else it ranked highest at each
# output step ("alternatives": per target token, labels best first).
TRACE_EXTRAS = ("cell", "layers", "target_tokens", "attention", "alternatives")


def check_prediction(p: Any) -> None:
    """Raise ValueError unless `p` follows the prediction schema (the contract tests call this)."""
    hints = Prediction.__annotations__
    if not isinstance(p, dict):
        raise ValueError(f"a prediction is a dict, got {type(p).__name__}")
    missing = [k for k in PREDICTION_REQUIRED if k not in p]
    unknown = sorted(set(p) - set(hints) - set(TRACE_EXTRAS))
    if missing or unknown:
        raise ValueError(f"prediction fields: missing {missing}, not in the schema {unknown}")
    n = len(p["tokens"])

    def label(x, where):
        if not (isinstance(x, dict) and set(x) == {"label", "probability"} and isinstance(x["label"], str)
                and isinstance(x["probability"], float) and 0.0 <= x["probability"] <= 1.0):
            raise ValueError(f"{where}: a label is {{label: str, probability: float in [0, 1]}}, got {x!r}")

    if not all(isinstance(t, str) for t in p["tokens"]):
        raise ValueError("tokens: strings")
    if "unknown" in p and (len(p["unknown"]) != n or not all(isinstance(u, bool) for u in p["unknown"])):
        raise ValueError("unknown: one bool per token")
    if "answer" in p:
        label(p["answer"], "answer")
    for i, x in enumerate(p.get("ranking", [])):
        label(x, f"ranking[{i}]")
    if "steps" in p:
        if len(p["steps"]) != n:
            raise ValueError(f"steps: one per token ({n}), got {len(p['steps'])}")
        for i, step in enumerate(p["steps"]):
            if set(step) - set(Step.__annotations__) or step.get("token") != p["tokens"][i]:
                raise ValueError(f"steps[{i}]: fields {sorted(step)}; token must be tokens[{i}]")
            for j, x in enumerate(step.get("ranking", [])):
                label(x, f"steps[{i}].ranking[{j}]")
            if "rank" in step and not (isinstance(step["rank"], int) and not isinstance(step["rank"], bool)
                                       and step["rank"] >= 1):
                raise ValueError(f"steps[{i}].rank: an int >= 1, got {step['rank']!r}")
            if "score" in step and not (isinstance(step["score"], float) and math.isfinite(step["score"])):
                raise ValueError(f"steps[{i}].score: a finite float, got {step['score']!r}")
    for i, span in enumerate(p.get("spans", [])):
        if set(span) != set(Span.__annotations__) or not 0 <= span["start"] < span["end"] <= n:
            raise ValueError(f"spans[{i}]: {{type, start, end, text}} within the tokens, got {span!r}")
    if "attention" in p:
        rows, targets = p["attention"], p.get("target_tokens", p.get("sequence"))
        if not (isinstance(rows, list) and isinstance(targets, list) and len(rows) == len(targets)
                and all(isinstance(t, str) for t in targets)
                and all(isinstance(r, list) and len(r) == n and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in r)
                        for r in rows)):
            raise ValueError(f"attention: one row per target token, one weight in [0, 1] per token ({n})")
    if "alternatives" in p:
        alts, targets = p["alternatives"], p.get("target_tokens", p.get("sequence"))
        if not (isinstance(alts, list) and isinstance(targets, list) and len(alts) == len(targets)):
            raise ValueError("alternatives: one list of labels per target token")
        for i, row in enumerate(alts):
            for j, x in enumerate(row):
                label(x, f"alternatives[{i}][{j}]")
    if "forecast" in p:
        _check_forecast(p["forecast"])
    if "audio" in p:
        _check_audio(p["audio"])
    if "influence" in p:
        infl = p["influence"]
        if set(infl) != set(Influence.__annotations__) or len(infl["scores"]) != n \
                or not all(isinstance(v, float) and math.isfinite(v) for v in infl["scores"]):
            raise ValueError("influence: {scores: one finite float per token, method, target}")


def _check_forecast(f: Any) -> None:
    """A forecast: {columns, times, steps} (+ lower / upper / interval, history_times / history), finite values."""
    def table(rows, n_rows, where):
        if not (isinstance(rows, list) and len(rows) == n_rows and all(
                isinstance(r, list) and len(r) == len(f["columns"])
                and all(isinstance(v, float) and math.isfinite(v) for v in r) for r in rows)):
            raise ValueError(f"forecast.{where}: {n_rows} rows of {len(f['columns'])} finite floats")

    if not (isinstance(f, dict) and {"columns", "times", "steps"} <= set(f)
            and not set(f) - set(Forecast.__annotations__)
            and isinstance(f["columns"], list) and all(isinstance(c, str) for c in f["columns"])
            and isinstance(f["times"], list) and all(isinstance(t, str) for t in f["times"])):
        raise ValueError("forecast: {columns, times, steps} (+ lower, upper, interval, history_times, history)")
    for key in ("steps", "lower", "upper"):
        if key in f or key == "steps":
            table(f[key], len(f["times"]), key)
    if ("lower" in f) != ("upper" in f):
        raise ValueError("forecast: lower and upper go together")
    if "interval" in f and not (isinstance(f["interval"], float) and 0.0 < f["interval"] < 1.0):
        raise ValueError("forecast.interval: a coverage in (0, 1)")
    if "history" in f:
        times = f.get("history_times")
        if not (isinstance(times, list) and all(isinstance(t, str) for t in times)):
            raise ValueError("forecast.history_times: strings, one per history row")
        table(f["history"], len(times), "history")


def _check_audio(a: Any) -> None:
    """audio: {seconds, frame_seconds, steps} (+ symbols with posteriors / best_path, words, ...), consistent."""
    def finite(v):
        return isinstance(v, float) and math.isfinite(v) and v >= 0.0

    if not (isinstance(a, dict) and {"seconds", "frame_seconds", "steps"} <= set(a)
            and not set(a) - set(AudioInfo.__annotations__) and finite(a["seconds"]) and finite(a["frame_seconds"])
            and isinstance(a["steps"], int) and a["steps"] >= 0):
        raise ValueError("audio: {seconds, frame_seconds, steps} (+ symbols, posteriors, best_path, greedy, decoder, "
                         "words, spectrogram)")
    n, symbols = a["steps"], a.get("symbols")
    if ("posteriors" in a or "best_path" in a) and not (isinstance(symbols, list)
                                                         and all(isinstance(s, str) for s in symbols)):
        raise ValueError("audio.symbols: strings, needed by posteriors and best_path")
    if "posteriors" in a and not (isinstance(a["posteriors"], list) and len(a["posteriors"]) == n and all(
            isinstance(row, list) and len(row) == len(symbols) and all(finite(v) and v <= 1.0 for v in row)
            for row in a["posteriors"])):
        raise ValueError(f"audio.posteriors: {n} rows (one per step) of one probability per symbol")
    if "best_path" in a and not (isinstance(a["best_path"], list) and len(a["best_path"]) == n and all(
            isinstance(i, int) and 0 <= i < len(symbols) for i in a["best_path"])):
        raise ValueError(f"audio.best_path: {n} symbol ids")
    for i, w in enumerate(a.get("words", [])):
        if not (isinstance(w, dict) and set(w) == {"word", "start", "end"} and isinstance(w["word"], str)
                and finite(w["start"]) and finite(w["end"]) and w["start"] <= w["end"]):
            raise ValueError(f"audio.words[{i}]: {{word, start, end}} with 0 <= start <= end, got {w!r}")


def format_prediction(p: dict[str, Any]) -> str:
    """One readable line from any task's prediction: the answer, the spans in the text, the tags."""
    parts = []
    if "answer" in p:
        parts.append(f"{p.get('answer_kind', 'answer')}: {p['answer']['label']!r} ({p['answer']['probability']:.1%})")
    if p.get("ranking") and len(p["ranking"]) > 1:
        parts.append("then " + ", ".join(f"{x['label']!r} {x['probability']:.1%}" for x in p["ranking"][1:4]))
    if "spans" in p:
        words, starts, i, out = list(p["tokens"]), {s["start"]: s for s in p["spans"]}, 0, []
        while i < len(words):
            if i in starts:
                out.append(f"[{' '.join(words[i:starts[i]['end']])}]{{{starts[i]['type']}}}")
                i = starts[i]["end"]
            else:
                out.append(words[i])
                i += 1
        parts.append(" ".join(out))
    if "sequence" in p:
        parts.append(" ".join(p["sequence"]))
    if "forecast" in p:
        f = p["forecast"]
        for j, col in enumerate(f["columns"]):
            parts.append(f"{col} next {len(f['steps'])}: " + " ".join(f"{row[j]:.4g}" for row in f["steps"][:8])
                         + (" ..." if len(f["steps"]) > 8 else ""))
    parts += [f"{k} {v:.4g}" for k, v in p.get("scores", {}).items()]
    return "   ".join(parts)


def labels(names: Sequence[str], probs: torch.Tensor, k: int | None = None) -> list[Label]:
    """The schema's ranking from a probability vector (V,): the k most likely names, best first."""
    probs = probs.detach().float().cpu()
    k = len(names) if k is None else min(k, len(names))
    top = torch.topk(probs, k)
    return [{"label": str(names[int(i)]), "probability": round(min(1.0, max(0.0, float(v))), 6)}
            for v, i in zip(top.values.tolist(), top.indices.tolist())]


class Task:
    """Base class of all tasks. Subclasses set the class attributes and implement the methods below.

    Class attributes:
      name         registry name ("intent"), also stored in bundles
      DataConfig   dataclass: data files and reading options
      ModelConfig  dataclass: model sizes and cell
      metric       the metric early stopping and bundles report first (a key of `evaluate`'s dict)
      metric_mode  "max" if higher is better (accuracy), "min" if lower is better (loss, perplexity)
      RENAMED      config keys renamed since configs were saved: {"model.word_dim": "model.embed_size"};
                   saved configs (bundles, run directories) are migrated as they load, a user's old
                   key is a UserError naming the new one (rnnlab.config)
    """

    name: ClassVar[str] = ""
    DataConfig: ClassVar[type] = object
    ModelConfig: ClassVar[type] = object
    metric: ClassVar[str] = "loss"
    metric_mode: ClassVar[str] = "min"
    RENAMED: ClassVar[dict[str, str]] = {}

    def __init__(self, data: Any, model: Any):
        self.data, self.model_config = data, model

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        """The split names `read` accepts with this config (e.g. ["train", "valid", "test"])."""
        raise NotImplementedError

    def read(self, split: str) -> list[Any]:
        """Read and validate one split. Raises DataError(path, line, problem) on malformed data."""
        raise NotImplementedError

    def default_split(self) -> str:
        """What `rnnlab evaluate` scores without --split: test where the config has one, else valid."""
        splits = self.splits()
        return "test" if "test" in splits else ("valid" if "valid" in splits else splits[-1])

    def read_file(self, split: str, path: str) -> list[Any]:
        """`rnnlab evaluate --data FILE`: the examples of FILE, read as `split` is read. Default: the
        split's data field pointed at FILE; a task whose splits are not files of their own overrides it."""
        import dataclasses

        fields = {f.name for f in dataclasses.fields(self.data)}
        if split not in fields:
            raise UserError(f"--data: task {self.name!r} has no data path named {split!r} "
                            f"(data fields: {', '.join(sorted(fields))})")
        self.data = dataclasses.replace(self.data, **{split: path})
        return self.read(split)

    def fit(self, train_examples: list[Any]) -> None:
        """Build the vocabularies / statistics the model needs from the training examples."""
        raise NotImplementedError

    def encode(self, example: Any) -> dict[str, Any]:
        """One example -> features (plain Python values: ids, lists of ids). Needs `fit` first."""
        raise NotImplementedError

    def length(self, features: dict[str, Any]) -> int:
        """Sequence length used for bucketing (e.g. number of tokens)."""
        raise NotImplementedError

    def batches(self, features: list[dict[str, Any]], batch_size: int, *, shuffle: bool, seed: int = 0,
                epoch: int = 0) -> list[list[int]]:
        """Indices of `features` grouped into batches. Default: length bucketing (`bucket_batches`).

        Tasks whose batches are not sets of independent examples (language models streaming one
        long text with carried state) override this; it must stay a pure function of its arguments.
        """
        return bucket_batches([self.length(f) for f in features], batch_size, shuffle=shuffle, seed=seed,
                              epoch=epoch)

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad and stack features into tensors. Every value must be a tensor whose dim 0 is the batch
        (the trainer moves each to the device and may split a batch across processes along dim 0)."""
        raise NotImplementedError

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> torch.nn.Module:
        """A fresh model from `self.model_config` and the fitted state (vocab sizes)."""
        raise NotImplementedError

    def configure_optimizer(self, model: torch.nn.Module, lr: float, weight_decay: float):
        """The task's optimizer, or None for the trainer's default (AdamW)."""
        return None

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        """Summed loss over the batch and the item count (see the module docstring for the rules)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        """Metrics over all batches of a split (model in eval mode). Must include `self.metric`."""
        raise NotImplementedError

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> Any:
        """A command-line / HTTP string -> one raw input for `predict` (identity for text tasks)."""
        return text

    def input_length(self, input: Any) -> int:
        """How long one parsed input is, in the units the model reads (words, characters, frames).
        The server checks its token limit with this before the model runs. Default: whitespace words
        (a list or tuple counts its items); tasks with their own tokeniser override it."""
        return len(input) if isinstance(input, (list, tuple)) else len(str(input).split())

    def predict(self, model: torch.nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        """Decoded predictions, one JSON-able dict per input (with per-token outputs where meaningful).
        Unknown words never raise; empty input raises UserError."""
        raise NotImplementedError

    def format_prediction(self, prediction: dict[str, Any]) -> str:
        """One readable line for the terminal (`rnnlab predict` without --json), from the schema alone."""
        return format_prediction(prediction)

    def trace(self, model: torch.nn.Module, input: Any) -> dict[str, Any]:
        """What the network does on one input, step by step, as JSON-able lists (for the studio).

        Convention for recurrent tasks (see the intent task for a full example):
          {"tokens": [...],
           "layers": [{"layer": 0, "direction": "forward", "h": [[...] per step],
                       "c": [[...]] (LSTM), "gates": {"i": [[...]], "f": ..., ...}}, ...],
           "steps": [per-step predictions], "influence": [per-token contribution to the output],
           "prediction": {... as predict ...}}
        """
        raise UserError(f"task {self.name!r} does not support tracing")

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        """Fitted state as {name: JSON-able value}; each is saved as `<name>.json` in the bundle.
        Names: lowercase letters, digits, '_' and '.', e.g. {"vocab.words": vocab.to_json()}."""
        raise NotImplementedError

    def state_from_json(self, state: dict[str, Any]) -> None:
        """Inverse of state_to_json (after this, build_model and predict work). Raises ValueError on
        malformed content; the bundle loader turns it into a BundleError naming the file."""
        raise NotImplementedError
