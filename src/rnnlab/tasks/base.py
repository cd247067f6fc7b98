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
    calibrate(model, batches) -> {name: float}            after training, on valid: a threshold (optional)
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
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np
import torch

from rnnlab.errors import UserError

# The prediction schema lives in rnnlab.prediction (its own module: the CLI and the studio read it without the
# Task interface); its names stay importable from here.
from rnnlab.prediction import (  # noqa: F401 (re-exported)
    PREDICTION_REQUIRED,
    TRACE_EXTRAS,
    AudioInfo,
    Forecast,
    Influence,
    Label,
    Prediction,
    Span,
    Step,
    Word,
    check_prediction,
    format_prediction,
    labels,
)


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


# ---- what a task takes and offers ----------------------------------------------------------------
# The CLI and the studio read these declarations instead of asking which task they serve: the input kind says
# how a command-line argument or an upload becomes inputs, the options which decode settings `predict` takes.

INPUT_KINDS: dict[str, str] = {
    "text": "a string: a sentence, a line of text",
    "file": "a file whose lines (or JSONL records) are the inputs (API-call sequences)",
    "sessions": "a file of log sessions, one per line",
    "series": "a CSV table with a time column",
    "audio": "a recording: WAV, FLAC or OGG",
    "image": "an image: PNG or JPEG",
}
FILE_KINDS = ("file", "sessions", "series", "audio", "image")  # kinds whose command-line inputs are paths


@dataclass(frozen=True)
class Option:
    """One decode option of a task's `predict(model, inputs, **options)`: a beam width, a threshold, a horizon.

    The CLI offers it as `--option NAME=VALUE` (and task verbs as their own flags), the studio as a query
    parameter; `check` turns what a user typed into the value, or one line naming the option. None means
    "the bundle's own setting" and is never passed on."""

    name: str
    kind: type  # int | float | str | bool
    help: str
    minimum: float | None = None  # for numbers
    choices: tuple[str, ...] = ()  # for strings

    def check(self, value: Any, called: str = "") -> Any:
        """`value` (a Python value, or the string a user typed) as this option's kind; UserError otherwise, naming
        the option as the caller spells it (`called`, e.g. a verb's "--top-g"; default "option NAME")."""
        called = called or f"option {self.name}"
        if isinstance(value, str) and self.kind is not str:
            text = value.strip().lower()
            try:
                value = {"true": True, "false": False}[text] if self.kind is bool else self.kind(text)
            except (KeyError, ValueError):
                raise UserError(f"{called}: expected {self.kind.__name__}, got {value!r}") from None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise UserError(f"{called}: expected {self.kind.__name__}, got {value!r}")
        if self.kind is float and not math.isfinite(value):
            raise UserError(f"{called}: expected a finite number, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise UserError(f"{called}: must be >= {self.minimum:g}, got {value!r}")
        if self.choices and value not in self.choices:
            raise UserError(f"{called}: one of {', '.join(self.choices)}, got {value!r}")
        return value


# ---- what a task exports ----------------------------------------------------------------------
# `rnnlab export` (rnnlab/export.py) knows a task's network only through these: which tensors go in and come out
# (names, dtypes, axes), a module whose forward takes the inputs in order and returns the outputs in order, and
# batches of real inputs (the task's own encoding of its vocabulary) to trace it with and check the export on.

# axis names whose size varies from call to call (any other is fixed): "chunks" of a cut sequence, the "steps" of a
# recurrence that reads several frames per step (not the input's "time"), the "chars" of the longest word
EXPORT_DYNAMIC_AXES = ("batch", "time", "chunks", "steps", "chars")


@dataclass(frozen=True)
class ExportTensor:
    """One input or output of an exported graph."""

    name: str
    dtype: str  # "int64" | "float32"
    axes: tuple[str, ...]  # one name per axis: ("batch", "time"), ("batch", "intents"); see EXPORT_DYNAMIC_AXES
    help: str = ""


@dataclass
class ExportGraph:
    """What a task exports: `module(*inputs)` -> tuple of outputs, both in the order declared here."""

    module: torch.nn.Module
    inputs: tuple[ExportTensor, ...]
    outputs: tuple[ExportTensor, ...]


def export_token_batch(vocab: Any, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """`export_example` for a model of token ids and lengths: {"tokens": (B, T) ids of `vocab`'s own tokens
    (never its <pad>), padded; "lengths": (B,)}, the first sequence `length` long and the others ragged."""
    g = torch.Generator().manual_seed(seed)
    real = torch.tensor([i for i in range(len(vocab)) if i != vocab.pad_id], dtype=torch.long)
    lengths = torch.randint(1, length + 1, (batch_size,), generator=g)
    lengths[0] = length  # the batch is exactly `length` long
    tokens = real[torch.randint(len(real), (batch_size, length), generator=g)]  # (B, T)
    tokens[torch.arange(length)[None, :] >= lengths[:, None]] = vocab.pad_id
    return {"tokens": tokens, "lengths": lengths}


def text_bytes(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Strings -> (UTF-8 bytes (B, L) uint8, zero-padded; byte lengths (B,)): text as a batch-first tensor, so that
    references can travel with a batch (every value of a batch is a tensor with the batch on dim 0)."""
    raw = [t.encode("utf-8") for t in texts]
    out = torch.zeros(len(raw), max(1, max((len(r) for r in raw), default=0)), dtype=torch.uint8)
    for b, r in enumerate(raw):
        if r:
            out[b, : len(r)] = torch.frombuffer(bytearray(r), dtype=torch.uint8)
    return out, torch.tensor([len(r) for r in raw], dtype=torch.long)


def bytes_text(data: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """text_bytes' inverse: (B, L) uint8 and (B,) lengths -> B strings."""
    data = data.cpu()
    return [bytes(data[b, : int(n)].tolist()).decode("utf-8") for b, n in enumerate(lengths.tolist())]


def check_beam(beam: int, vocab: int, called: str, what: str = "target vocabulary", unit: str = "pieces") -> int:
    """A beam a model can search: at most limits.max_beam, and no wider than its output vocabulary of `vocab`
    entries (a first step has no more than that many different hypotheses to keep). UserError naming `called`."""
    from rnnlab import limits

    if beam > vocab:
        raise UserError(f"{called}: a beam of {beam} is wider than this model's {what} ({vocab} "
                        f"{unit}); use at most {min(vocab, limits.current().max_beam)}")
    if beam > limits.current().max_beam:
        raise UserError(f"{called}: a beam of {beam} is wider than max_beam {limits.hint('max_beam')}")
    return beam


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
      input_kind   what one input is (a key of INPUT_KINDS): how the CLI and the studio turn an argument or
                   an upload into inputs (`parse_input`, `parse_bytes`, `inputs_from_file`)
      options      the decode options `predict(model, inputs, **options)` takes (Option), offered by the CLI
                   and the studio without knowing the task
    """

    name: ClassVar[str] = ""
    DataConfig: ClassVar[type] = object
    ModelConfig: ClassVar[type] = object
    metric: ClassVar[str] = "loss"
    metric_mode: ClassVar[str] = "min"
    RENAMED: ClassVar[dict[str, str]] = {}
    input_kind: ClassVar[str] = "text"
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, data: Any, model: Any):
        self.data, self.model_config = data, model

    @classmethod
    def migrate_saved_config(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """A config rnnlab saved (a bundle's, a run directory's; `RENAMED` already applied) rewritten where a key's
        meaning changed since, so the model it describes is built as it was trained. Returns a new dict; the
        default changes nothing."""
        return raw

    @classmethod
    def ignored_keys(cls, data: Any, model: Any) -> dict[str, str]:
        """Config keys these settings never read, each with why: {"data.subword_type": 'data.tokenizer =
        "word" learns no subwords'}. A user's TOML or override that sets one of them (to other than its
        default) is refused by rnnlab.config, not silently ignored. The default: every key is read."""
        return {}

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

    # lines `fit` leaves for the training log (what it read beside the data, a warning about it): the trainer
    # prints them
    fit_notes: list[str] = []

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

    def adapt(self, n_train: int) -> dict[str, Any]:
        """Model settings this task's recipe scales with the number of training examples, {model key: value}
        (rnnlab.training.adapt applies them under train.adapt). Only ever a smaller or more regularised model
        than the config's; {} keeps the config's (the default)."""
        return {}

    def calibrate(self, model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        """After training, with the best weights: set what only the trained model can give (a detector's threshold
        at a false-positive rate), from the batches of held-out TRAINING data (the valid split, never test), as
        state for the bundle; returns what it set, for the run's summary. Default: nothing to set, {}."""
        return {}

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> Any:
        """A command-line / HTTP string -> one raw input for `predict` (identity for text tasks)."""
        return text

    def input_length(self, input: Any) -> int:
        """How long one parsed input is, in the units the model reads (words, characters, frames).
        The server checks its token limit with this before the model runs. Default: whitespace words
        (a list or tuple counts its items); tasks with their own tokeniser override it."""
        return len(input) if isinstance(input, (list, tuple)) else len(str(input).split())

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, Any]]:
        """A file's bytes (an upload, a file named on the command line) -> [(name, input)], one per input it
        holds. Default (text kinds): UTF-8 text, one input per non-empty line, named NAME:LINE; a task whose
        file is one input (a recording, a series) or holds records overrides it. Bad bytes: DataError naming
        `name` and the line; so is a line past the limits (rnnlab.readers.lines.check_line: characters, control
        characters, `input_length` against max_input_tokens)."""
        from rnnlab.readers.lines import numbered_lines

        lines = numbered_lines(data, name, count=lambda text: self.input_length(self.parse_input(text)))
        return [(f"{name}:{i}", self.parse_input(line)) for i, line in lines if line.strip()]

    def inputs_from_file(self, path: str) -> list[tuple[str, Any]]:
        """`rnnlab predict BUNDLE FILE`: the inputs a file holds, each named, read with `parse_bytes`."""
        from rnnlab.readers.paths import check_input_file

        return self.parse_bytes(check_input_file(path).read_bytes(), str(path))

    def check_options(self, options: dict[str, Any], called: dict[str, str] | None = None) -> dict[str, Any]:
        """The options a caller gave, checked against `options` (None dropped: the bundle's own setting);
        one UserError line for an option this task does not take, naming those it does. `called`: how the
        caller spells an option in its messages ({"top_g": "--top-g"} for a verb's flag)."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(known) if known else "none"
            raise UserError(f"task {self.name!r} takes no option {', '.join(unknown)} (its options: {takes})")
        called = called or {}
        return {k: known[k].check(v, called.get(k, "")) for k, v in options.items() if v is not None}

    def predict(self, model: torch.nn.Module, inputs: list[Any], **options: Any) -> list[dict[str, Any]]:
        """Decoded predictions, one JSON-able dict per input (with per-token outputs where meaningful), under
        the decode `options` the task declares (checked by the caller with `check_options`; absent = the
        bundle's setting). Unknown words never raise; empty input raises UserError."""
        raise NotImplementedError

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[Any], **options: Any) -> list[dict[str, Any]]:
        """`predict` from the task's export graphs alone (rnnlab.runtime): `graphs[name](*inputs)` -> tuple of
        outputs, as `export_graph` declares them, run by onnxruntime (an export directory) or by PyTorch
        (runtime.torch_graphs). The same answers as `predict`; what needs the PyTorch model itself (gradient x
        input influences, the glass engine's gates) is left out. Default: the task cannot run from an export."""
        raise UserError(f"task {self.name!r} cannot predict from an export yet: run the bundle (--runtime torch)")

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

    def trace_many(self, model: torch.nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        """`trace` of each input (the server batches /trace requests into one call). Default: one at a time; a
        task whose trace can read a padded batch overrides it with one pass (intent)."""
        return [self.trace(model, x) for x in inputs]

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: torch.nn.Module) -> ExportGraph | dict[str, ExportGraph]:
        """The part of `model` that runs as one forward pass, with its front end (normalisation, scaling), as
        an ExportGraph; decoding (argmax, search, thresholds) stays outside it, as in `predict`. A model that a
        loop drives (an encoder-decoder) gives its graphs by name ({"encoder": ..., "decoder_step": ...}),
        input names unique across them."""
        raise UserError(f"task {self.name!r} cannot be exported yet")

    def export_example(self, model: torch.nn.Module, batch_size: int, length: int,
                       seed: int = 0) -> dict[str, torch.Tensor]:
        """A batch of `batch_size` real inputs for `export_graph`'s inputs (of every graph), by name: the first
        `length` steps long, the others ragged (shorter, where the model takes lengths), drawn with `seed`.
        `model` gives what only it can (a decoder step's inputs are the encoder's outputs)."""
        raise UserError(f"task {self.name!r} cannot be exported yet")

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        """Fitted state as {name: JSON-able value}; each is saved as `<name>.json` in the bundle.
        Names: lowercase letters, digits, '_' and '.', e.g. {"vocab.words": vocab.to_json()}."""
        raise NotImplementedError

    def state_from_json(self, state: dict[str, Any]) -> None:
        """Inverse of state_to_json (after this, build_model and predict work). Raises ValueError on
        malformed content; the bundle loader turns it into a BundleError naming the file."""
        raise NotImplementedError
