"""Speech recognition: from the audio, decide the words (the tutorial's speech example). This file holds the
configs and the wiring; the pieces live in their folders:

    readers/speech.py     the four data.format layouts as examples and splits (readers/audio.py, mfc.py below)
    audio/frontend.py     raw frames (features.py) -> utterance mean -> training normaliser -> SpecAugment ->
                          k frames per step: a module of the model, its statistics buffers in the weights
    audio/models.py       AudioEncoder (front end + bidirectional Recurrent), WordClassifier, CTCModel
    decoding/ctc.py       greedy, or prefix beam search with the training transcripts' lexicon and word LM

Two tasks over one audio front end:

- `spoken_word` (isolated words, FSDD's spoken digits): a recurrent classifier over the frames; the
  sequence is pooled over time and the class decided at the end.

      frames (B, T, F) -> front end (B, T/k, kF) -> Recurrent (bi) (B, T', D) -> pool (B, D) -> (B, C)

- `speech` (continuous speech, AN4; connected digits): a bidirectional recurrent encoder trained with CTC
  (Graves et al. 2006) over characters. CTC lets the network emit one symbol or a blank per frame and sums
  over every alignment of the transcript to the frames, so no frame-level labels are needed.

      frames (B, T, F) -> front end (B, T', kF) -> Recurrent (bi, L layers) (B, T', D)
                       -> linear (B, T', V) log-probabilities over blank + characters

  Decoding: greedy (best symbol per frame, repeats merged, blanks dropped), or a prefix beam search with a
  word n-gram language model and a lexicon, both built from the training transcripts (shallow fusion:
  score = log p_ctc + lm_weight * log p_lm + word_bonus * words).

Frame stacking (`model.subsample = k`): k consecutive 10 ms frames are concatenated into one step, so the
recurrent layers run T / k steps (k times less sequential work, the main cost on a CPU) and see 10k ms
per step; CTC still needs at least one step per character (plus one between repeated ones).

Data (`data.format`):
    manifest      a TSV or CSV with `path` and `transcript` columns (paths relative to it): any recordings
                  (WAV, FLAC, OGG; any rate, mono or stereo); valid = `valid_fraction` of train unless given
    fsdd          Free Spoken Digit Dataset recordings `{digit}_{speaker}_{index}.wav` (`data.root`): the
                  official split (index 0-4 test), or `test_speaker = NAME` (that speaker's recordings are
                  the test split: speaker-independent)
    fsdd_strings  connected digits: FSDD recordings joined into strings of 2-7 digits with random gaps
                  (rnnlab.audio.strings); training strings from training recordings only, validation
                  strings from held-out training recordings, test strings from test recordings (index 0-4)
    an4           CMU AN4 as Sphinx MFCC files (`data.root`: etc/ and feat/); the features are read, not
                  computed (model.features = "sphinx_mfcc" computes the same kind from a user's WAV)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.audio.features import FeatureConfig, Normalizer, frames, spectrogram
from rnnlab.audio.frontend import FrontEnd, example_frames, fit_normalizer
from rnnlab.audio.models import POOLS, AudioEncoder, CTCModel, WordClassifier
from rnnlab.decoding import ctc
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode
from rnnlab.layers import RecurrentConfig
from rnnlab.metrics.classification import accuracy, confusion_matrix, macro_f1
from rnnlab.readers import speech as datasets
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.speech import FORMATS, SpeechExample
from rnnlab.readers.splits import hold_out
from rnnlab.runtime import Graph, torch_graphs
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Option, Task, labels
from rnnlab.vocab import Vocab

DECODERS = ("greedy", "beam")
BLANK = "<blank>"
PREDICT_BATCH = 16  # utterances per forward pass in predict
KNOWN_SHOWN = 10  # labels a refusal lists before "... (N in all)"
SPECTROGRAM_MELS = 64  # rows of the spectrogram a trace carries for the studio
TRACE_GATE_VALUES = 200_000  # a trace carries the gates only while steps x hidden x layers stays below this
# the network as predict runs it: frames (B, T, F), lengths (B,) -> export_graph's outputs (the PyTorch model's graph,
# runtime.torch_graphs, or an export's)
Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]


# ---- configuration --------------------------------------------------------------------------------

@dataclass
class SpeechData:
    """Where the recordings are and how the splits are made. Paths: rnnlab.readers.paths."""

    format: str = "manifest"  # manifest | fsdd | fsdd_strings | an4
    train: str = ""  # manifest: TSV / CSV with columns path, transcript
    valid: str = ""  # manifest; "" = `valid_fraction` of train (fixed split_seed)
    test: str = ""  # manifest; "" = no test split
    root: str = ""  # fsdd / fsdd_strings: the recordings folder; an4: the AN4 folder (etc/, feat/)
    valid_fraction: float = 0.1
    split_seed: int = 0  # the validation split's permutation (not the training seed)
    case: str = "keep"  # keep | lower | upper: transcripts are changed so before training and scoring
    test_speaker: str = ""  # fsdd / fsdd_strings: this speaker is the test split; "" = official (index 0-4)
    strings_train: int = 4000  # fsdd_strings: how many strings per split
    strings_valid: int = 200
    strings_test: int = 1000
    min_digits: int = 2
    max_digits: int = 7
    gap_min: float = 0.05  # seconds of silence between digits, uniform in [gap_min, gap_max]
    gap_max: float = 0.3
    string_seed: int = 0
    room_tone: bool = True  # fsdd_strings: gaps filled with noise at the recordings' background level, not zeros


# The data.* keys that only some formats read (case, valid_fraction and split_seed every format reads). A key set
# to other than its default under a format that ignores it is refused: `configs/digits.toml data.train=my.tsv`
# would otherwise train on the built-in set and never say so. `root` is left out: a shipped config names its
# recordings folder, and `configs/digits.toml data.format=manifest data.train=...` (the README's recipe) keeps it.
FORMAT_KEYS = {"train": ("manifest",), "valid": ("manifest",), "test": ("manifest",),
               "test_speaker": ("fsdd", "fsdd_strings"),
               **{k: ("fsdd_strings",) for k in ("strings_train", "strings_valid", "strings_test", "min_digits",
                                                 "max_digits", "gap_min", "gap_max", "string_seed", "room_tone")}}


def check_format_keys(data: SpeechData) -> None:
    """UserError for the first data.* key set (not at its default) that data.format does not read."""
    default = SpeechData()
    for key, formats in FORMAT_KEYS.items():
        value = getattr(data, key)
        if data.format not in formats and value != getattr(default, key):
            readers = " or ".join(f"data.format = {f}" for f in formats)
            raise UserError(f"data.{key} = {value!r} is set, but data.format = {data.format} does not read it "
                            f"(only {readers} does): set data.format = {formats[0]} to use it, or leave "
                            f"data.{key} out")


@dataclass
class SpeechModelConfig:
    """The front end (features), the network, and (speech) the decoder's defaults."""

    features: str = "logmel"  # logmel | mfcc | sphinx_mfcc (rnnlab.audio.features)
    sample_rate: int = 16000
    n_mels: int = 40
    n_mfcc: int = 13
    window_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 0.0
    f_max: float = 0.0  # 0 = sample_rate / 2
    deltas: int = 0  # 0, 1, 2: append deltas (and delta-deltas) of the frames
    utterance_mean: bool = False  # subtract each recording's own mean frame first (cepstral mean normalisation)
    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    subsample: int = 1  # k: frames stacked into one recurrent step
    dropout: float = 0.1  # between layers and before the head
    pool: str = "mean"  # spoken_word: mean | max | attention over time
    engine: str = "auto"
    # SpecAugment (training only): masks per utterance, widest band / stretch
    freq_masks: int = 0
    freq_width: int = 8
    time_masks: int = 0
    time_width: int = 20
    time_stretch: float = 0.0  # tempo augmentation: each training batch played at U[1 - s, 1 + s] its speed
    concat_prob: float = 0.0  # speech: a training utterance is followed by another of its batch this often
    # speech (CTC) decoding defaults; `rnnlab transcribe --beam` overrides beam
    beam: int = 16  # 1 = greedy
    lm_order: int = 3  # word n-gram from the training transcripts; 0 = none
    lm_weight: float = 0.5  # alpha
    word_bonus: float = 1.0  # beta, per word
    lexicon: bool = True  # only words of the training transcripts
    eval_decoder: str = "greedy"  # what `evaluate` adds beside greedy: greedy | beam

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(self.features, self.sample_rate, self.n_mels, self.n_mfcc, self.window_ms, self.hop_ms,
                             self.f_min, self.f_max, self.deltas)


# train.adapt (rnnlab.training.adapt): below this many training utterances a CTC recipe joins them in pairs
SMALL_SET = 500
SMALL_SET_CONCAT = 0.5


# ---- the shared audio side ------------------------------------------------------------------------

class _AudioTask(Task):
    """Reading, features, the front end and user input, shared by both speech tasks."""

    DataConfig = SpeechData
    ModelConfig = SpeechModelConfig
    input_kind = "audio"

    def __init__(self, data: SpeechData, model: SpeechModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("sample_rate", "n_mels", "n_mfcc", "hidden_size", "num_layers", "subsample",
                                        "freq_width", "time_width", "beam"),
                          rates=("dropout", "time_stretch", "concat_prob"))
        for key, allowed in (("format", FORMATS), ("case", datasets.CASES)):
            if getattr(data, key) not in allowed:
                raise UserError(f"data.{key} must be one of {', '.join(allowed)}; got {getattr(data, key)!r}")
        check_format_keys(data)
        for key, allowed in (("pool", POOLS), ("eval_decoder", DECODERS)):
            if getattr(model, key) not in allowed:
                raise UserError(f"model.{key} must be one of {', '.join(allowed)}; got {getattr(model, key)!r}")
        if not 0.0 <= data.valid_fraction < 1.0:
            raise UserError(f"data.valid_fraction must be in [0, 1), got {data.valid_fraction}")
        try:
            model.feature_config().check()
        except ValueError as e:
            raise UserError(f"model.{e}") from None
        if data.format == "an4" and model.features != "sphinx_mfcc":
            raise UserError("data.format = an4 reads Sphinx MFCC files: set model.features = \"sphinx_mfcc\" "
                            "(and model.n_mfcc = 13), so that a WAV given to the bundle gets the same kind of frames")
        self.normalizer: Normalizer | None = None  # fitted on the training frames; the front end's buffers
        self._recordings: dict[Path, np.ndarray] = {}  # fsdd_strings: each recording read once

    @property
    def features(self) -> FeatureConfig:
        return self.model_config.feature_config()

    # ---- splits -----------------------------------------------------------------------------

    def splits(self) -> list[str]:
        d = self.data
        out = ["train"]
        if d.valid or d.valid_fraction > 0:
            out.append("valid")
        if d.format != "manifest" or d.test:
            out.append("test")
        return out

    def _root(self) -> Path:
        if not self.data.root:
            raise UserError(f"data.root is not set (data.format = {self.data.format} reads its files from it)")
        return resolve_path(self.data.root)

    def _manifest(self, path_text: str) -> list[SpeechExample]:
        return datasets.manifest_examples(resolve_path(path_text), self.data.case)

    def read(self, split: str) -> list[SpeechExample]:
        """The split's examples; with a bundle's task (fitted), every transcript checked before any audio is read."""
        return self._known(self._read_split(split))

    def _read_split(self, split: str) -> list[SpeechExample]:
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        d = self.data
        if d.format == "manifest":
            if not d.train:
                raise UserError("data.train is not set: a TSV or CSV of `path` and `transcript` columns")
            if split == "test":
                return self._manifest(d.test)
            if split == "valid" and d.valid:
                return self._manifest(d.valid)
            train = self._manifest(d.train)
            if d.valid:
                return train
            return hold_out(train, d.valid_fraction, d.split_seed)[0 if split == "train" else 1]
        if d.format == "an4":
            return datasets.an4_examples(self._root(), split, case=d.case, valid_fraction=d.valid_fraction,
                                         split_seed=d.split_seed)
        try:
            parts = datasets.fsdd_splits(self._root(), test_speaker=d.test_speaker, valid_fraction=d.valid_fraction,
                                         split_seed=d.split_seed)[split]
        except ValueError as e:
            raise UserError(f"data.{e}") from None
        if d.format == "fsdd":
            return datasets.fsdd_examples(parts)
        n = {"train": d.strings_train, "valid": d.strings_valid, "test": d.strings_test}[split]
        try:
            return datasets.digit_string_examples(parts, split, n, min_digits=d.min_digits, max_digits=d.max_digits,
                                                  gap_min=d.gap_min, gap_max=d.gap_max, string_seed=d.string_seed)
        except ValueError as e:
            raise UserError(f"data (fsdd_strings, {split}): {e}") from None

    def read_file(self, split: str, path: str) -> list[SpeechExample]:
        """`rnnlab evaluate --data FILE`: a manifest (path, transcript), whatever the training format."""
        return self._known(self._manifest(path))

    def check_transcript(self, ex: SpeechExample) -> None:
        """UserError naming the example (manifest:line) when its transcript is not one the fitted model can be
        scored on: a label it does not know (spoken_word), a symbol outside its alphabet (speech). Nothing before
        fit: training reads its splits first and fits the labels on train."""
        raise NotImplementedError

    def _known(self, examples: list[SpeechExample]) -> list[SpeechExample]:
        for ex in examples:
            self.check_transcript(ex)
        return examples

    # ---- features and the front end ---------------------------------------------------------

    def _raw_frames(self, ex: SpeechExample) -> np.ndarray:
        """The example's frames as the model reads them (T, F), computed once (fit reads them, then encode)."""
        if "frames" not in ex.cache:
            ex.cache["frames"] = example_frames(ex, self.features, self._recordings, room_tone=self.data.room_tone)
        return ex.cache["frames"]

    def fit_features(self, train_examples: list[SpeechExample]) -> None:
        if not train_examples:
            raise UserError("the training split is empty")
        self.normalizer = fit_normalizer((self._raw_frames(e) for e in train_examples),
                                         utterance_mean=self.model_config.utterance_mean)

    def encode_frames(self, ex: SpeechExample) -> np.ndarray:
        x = self._raw_frames(ex)
        ex.cache.pop("frames", None)  # the features keep it; the example need not
        return x

    def length(self, features: dict[str, Any]) -> int:
        return int(features["frames"].shape[0])

    def _frames_batch(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([f["frames"].shape[0] for f in features], dtype=torch.long)
        x = torch.zeros(len(features), int(lengths.max()), self.features.size)
        for b, f in enumerate(features):
            x[b, : f["frames"].shape[0]] = torch.from_numpy(f["frames"])
        return {"frames": x, "lengths": lengths}  # (B, T, F) raw frames, zero-padded; (B,)

    def encoder(self) -> AudioEncoder:
        """The front end (the fitted normaliser as buffers; SpecAugment while training) under the recurrent
        layers: the first part of either model."""
        if self.normalizer is None:
            raise RuntimeError("the normaliser is not fitted: fit() or state_from_json() before build_model()")
        m = self.model_config
        augment = {"freq_masks": m.freq_masks, "freq_width": m.freq_width, "time_masks": m.time_masks,
                   "time_width": m.time_width, "time_stretch": m.time_stretch}
        front_end = FrontEnd(self.normalizer, utterance_mean=m.utterance_mean, subsample=m.subsample, augment=augment)
        return AudioEncoder(front_end, RecurrentConfig.of(m, cell=self.cell))

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> Any:
        """A path to a recording (CLI, `predict`); the studio passes Audio objects it read from an upload."""
        from rnnlab.readers.audio import read_audio

        if not str(text).strip():
            raise UserError("empty input: give the path of a WAV (or FLAC, OGG) file")
        return read_audio(Path(str(text).strip()), self.features.sample_rate)

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, Any]]:
        """An upload (the studio) or a file's bytes: one recording, resampled to the model's rate."""
        from rnnlab.readers.audio import audio_from_bytes

        return [(name, audio_from_bytes(data, name, self.features.sample_rate))]

    def input_length(self, input: Any) -> int:
        """Frames the model will read (10 ms each by default)."""
        audio = self._audio(input)
        return 1 + len(audio.samples) * 1000 // max(1, round(self.features.sample_rate * self.features.hop_ms))

    def inputs_from_file(self, path: str) -> list[tuple[str, Any]]:
        """`rnnlab predict BUNDLE a.wav`: one prediction for the recording."""
        return [(path, self.parse_input(path))]

    def _audio(self, input: Any):
        """Any input (a path, an Audio) -> Audio at the model's rate, at least one analysis window long."""
        from rnnlab.readers.audio import Audio, resample

        rate = self.features.sample_rate
        if not isinstance(input, Audio):
            input = self.parse_input(input)
        elif input.sample_rate != rate:
            input = Audio(resample(input.samples, input.sample_rate, rate), rate, input.name)
        if len(input.samples) < self.features.min_samples:
            raise UserError(f"{input.name}: recording too short ({len(input.samples)} samples at {rate} Hz): the "
                            f"model reads windows of {self.features.min_samples} samples")
        return input

    def _input_frames(self, inputs: list[Any]) -> tuple[list[Any], list[np.ndarray]]:
        """Inputs -> (their Audio, their raw frames (T, F)): what the model reads, as training examples are."""
        audios = [self._audio(x) for x in inputs]
        return audios, [frames(a.samples, self.features) for a in audios]

    def _run(self, forward: Forward, inputs: list[Any]) -> Iterator[tuple[list[Any], torch.Tensor, tuple]]:
        """(audios, frames per recording (B,), the network's outputs) per PREDICT_BATCH inputs: the features are
        computed here from the audio, as training examples' are; the network (`export_graph`'s module) is run by
        `forward` (graphs["model"]: the PyTorch model's, runtime.torch_graphs, or an export's)."""
        audios, feats = self._input_frames(inputs)
        for start in range(0, len(feats), PREDICT_BATCH):
            batch = self._frames_batch([{"frames": f} for f in feats[start:start + PREDICT_BATCH]])
            yield audios[start:start + PREDICT_BATCH], batch["lengths"], forward(batch["frames"], batch["lengths"])

    def step_tokens(self, n_steps: int) -> list[str]:
        """What the model read, one per step: a slice of audio, named by the second it starts at."""
        step = self.features.frame_seconds * self.model_config.subsample
        return [f"{i * step:.2f}s" for i in range(n_steps)]

    def _trace(self, model: nn.Module, audio) -> dict[str, Any]:
        """predict's output, the spectrogram, and every layer's state per step (glass engine); gates only
        while they stay small (TRACE_GATE_VALUES), as a long recording would make the page megabytes."""
        from rnnlab.explain import trace_layers

        pred = self.predict(model, [audio])[0]
        pred["audio"]["spectrogram"] = spectrogram(audio.samples, self.features, SPECTROGRAM_MELS)
        x = torch.from_numpy(frames(audio.samples, self.features))[None]  # (1, T, F)
        device = next(model.parameters()).device
        with torch.no_grad(), eval_mode(model):
            traced = model.encoder.trace(x.to(device), torch.tensor([x.shape[1]]))
        cfg = self.model_config
        steps = math.ceil(x.shape[1] / cfg.subsample)
        n = steps * cfg.hidden_size * cfg.num_layers * (2 if cfg.bidirectional else 1)
        layers = trace_layers(traced)
        if n > TRACE_GATE_VALUES:
            for layer in layers:
                layer["gates"] = {}
        return {**pred, "cell": self.cell, "layers": layers}

    def _audio_info(self, audio, n_steps: int) -> dict[str, Any]:
        return {"seconds": round(len(audio.samples) / audio.sample_rate, 4),
                "frame_seconds": round(self.features.frame_seconds * self.model_config.subsample, 6),
                "steps": n_steps}

    # ---- export ---------------------------------------------------------------------------------

    FRAMES = ExportTensor("frames", "float32", ("batch", "time", "features"),
                          "raw feature frames (data.features, as the task computes them from audio), zero-padded")
    LENGTHS = ExportTensor("lengths", "int64", ("batch",), "frames per recording, 1..time")

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Frames drawn around the training statistics (the normaliser's), ragged, zero-padded as `collate` pads
        them: the graph starts at the frames; the feature extraction from audio stays outside it."""
        g = torch.Generator().manual_seed(seed)
        mean, std = torch.from_numpy(self.normalizer.mean), torch.from_numpy(self.normalizer.std)  # (F,)
        sizes = torch.randint(1, length + 1, (batch_size,), generator=g)
        sizes[0] = length
        frames = [(mean + std * torch.randn(int(n), len(mean), generator=g)).numpy() for n in sizes]
        return self._frames_batch([{"frames": f} for f in frames])

    # ---- bundles ----------------------------------------------------------------------------

    def _state_normalizer(self, state: dict[str, Any]) -> None:
        if "normalizer" not in state:
            raise ValueError("missing normalizer")
        self.normalizer = Normalizer.from_json(state["normalizer"])
        if self.normalizer.mean.shape[0] != self.features.size:
            raise ValueError(f"normalizer has {self.normalizer.mean.shape[0]} features, the config's front end "
                             f"makes {self.features.size}")


# ---- isolated words -------------------------------------------------------------------------------

class SpokenWordTask(_AudioTask):
    """Isolated spoken words (FSDD digits): a recurrent classifier over the frames."""

    name = "spoken_word"
    metric = "accuracy"
    metric_mode = "max"

    def __init__(self, data: SpeechData, model: SpeechModelConfig):
        super().__init__(data, model)
        self.classes: list[str] = []

    def fit(self, train_examples: list[SpeechExample]) -> None:
        self.fit_features(train_examples)
        self.classes = sorted({e.transcript for e in train_examples}, key=lambda c: (len(c), c))

    def check_transcript(self, ex: SpeechExample) -> None:
        if self.classes and ex.transcript not in self.classes:
            # scoring it would give loss 0 and a confident "wrong": the model has no output for the label
            known = ", ".join(repr(c) for c in self.classes[:KNOWN_SHOWN])
            more = f", ... ({len(self.classes)} in all)" if len(self.classes) > KNOWN_SHOWN else ""
            raise UserError(f"{ex.name}: label {ex.transcript!r} is not one the model knows (its labels, those of "
                            f"its training data: {known}{more})")

    def encode(self, example: SpeechExample) -> dict[str, Any]:
        self.check_transcript(example)  # before the recording is read
        return {"frames": self.encode_frames(example), "label": self.classes.index(example.transcript)}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {**self._frames_batch(features), "label": torch.tensor([f["label"] for f in features])}

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Frames in, the words' logits out (the front end's normalisation and frame stacking inside)."""
        return ExportGraph(model, inputs=(self.FRAMES, self.LENGTHS), outputs=(
            ExportTensor("logits", "float32", ("batch", "classes"), "logits of the words (classes.json)"),))

    def build_model(self) -> WordClassifier:
        m = self.model_config
        return WordClassifier(self.encoder(), len(self.classes), pool=m.pool, dropout=m.dropout)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        logits = model(batch["frames"], batch["lengths"])  # (B, C); SpecAugment inside, while training
        return LossOutput(F.cross_entropy(logits.float(), batch["label"], reduction="sum"), len(batch["label"]))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        gold, pred, loss_sum = [], [], 0.0
        for batch in batches:
            logits = model(batch["frames"], batch["lengths"]).float()
            loss_sum += F.cross_entropy(logits, batch["label"], reduction="sum").item()
            gold += batch["label"].tolist()
            pred += logits.argmax(-1).tolist()
        n = len(gold)  # every label is one the model knows: check_transcript refused the others
        confusion = confusion_matrix(torch.tensor(gold), torch.tensor(pred), len(self.classes))
        return {"accuracy": accuracy(confusion) if n else 0.0, "macro_f1": macro_f1(confusion) if n else 0.0,
                "loss": loss_sum / max(1, n), "examples": float(n)}

    def predict(self, model: nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        """For each recording: the word heard as `answer`, every word in `ranking`, the steps read (`tokens`) and
        the recording's length (`audio`)."""
        return self.predict_graphs(torch_graphs(self, model), inputs)

    def predict_graphs(self, graphs: dict[str, Graph], inputs: list[Any]) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": frames, lengths -> logits): the same words and rankings;
        nothing of predict's needs the PyTorch model, so nothing is left out."""
        return self._predict(graphs["model"], inputs)

    def _predict(self, forward: Forward, inputs: list[Any]) -> list[dict[str, Any]]:
        """`predict` with the network run by `forward` (see `_run`): the softmax, ranking and formatting."""
        out = []
        for audios, frame_lengths, (logits,) in self._run(forward, list(inputs)):
            probs = logits.float().softmax(-1)
            for audio, p, n in zip(audios, probs, frame_lengths.tolist()):
                ranking = labels(self.classes, p)
                steps = math.ceil(n / self.model_config.subsample)
                out.append({"task": self.name, "text": audio.name, "tokens": self.step_tokens(steps),
                            "answer": ranking[0], "answer_kind": "word", "ranking": ranking,
                            "audio": self._audio_info(audio, steps)})
        return out

    def trace(self, model: nn.Module, input: Any) -> dict[str, Any]:
        return self._trace(model, self._audio(input))

    def state_to_json(self) -> dict[str, Any]:
        return {"normalizer": self.normalizer.to_json(), "classes": list(self.classes)}

    def state_from_json(self, state: dict[str, Any]) -> None:
        self._state_normalizer(state)
        classes = state.get("classes")
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
                and len(set(classes)) == len(classes)):
            raise ValueError("classes: a list of distinct strings")
        self.classes = classes


# ---- continuous speech (CTC) ----------------------------------------------------------------------

class SpeechTask(_AudioTask):
    """Continuous speech: bidirectional recurrent encoder, CTC over characters, greedy / beam decoding."""

    name = "speech"
    metric = "cer"
    metric_mode = "min"
    options = (Option("beam", int, "beam width (1 = greedy); default: the bundle's model.beam", minimum=1),
               Option("lm_weight", float, "the word LM's weight in the beam's score; default: model.lm_weight",
                      minimum=0.0),
               Option("word_bonus", float, "added to the beam's score per word; default: model.word_bonus"))

    def __init__(self, data: SpeechData, model: SpeechModelConfig):
        super().__init__(data, model)
        if model.lm_order < 0 or model.lm_weight < 0:
            raise UserError("model.lm_order and model.lm_weight must be >= 0")
        self.symbols: Vocab | None = None
        self.lm = None  # rnnlab.decoding.ngram.WordNgram, from the training transcripts
        self.words: list[str] = []  # the lexicon: every word of the training transcripts

    def adapt(self, n_train: int) -> dict[str, Any]:
        """Fewer than SMALL_SET utterances: training utterances are joined in pairs half the time
        (`concat_prob`, see concat_pairs), unless the config asks for more. Measured on a two-word set of 27
        utterances (benchmarks/results/own_data_speech_dev.json, development utterances from training
        recordings): development WER over two seeds 0.0 / 0.0 % with one speaker (0.0 / 9.2 % without) and
        1.3 / 4.2 % with six (12.5 / 15.4 % without). The connected-digits benchmark's 4,000 strings keep
        the config's recipe."""
        if n_train < SMALL_SET and self.model_config.concat_prob < SMALL_SET_CONCAT:
            return {"concat_prob": SMALL_SET_CONCAT}
        return {}

    def fit(self, train_examples: list[SpeechExample]) -> None:
        from rnnlab.decoding.ngram import WordNgram

        self.fit_features(train_examples)
        chars = sorted({c for e in train_examples for c in e.transcript})
        self.symbols = Vocab(chars, pad=BLANK, unk=None)  # id 0 = the CTC blank
        sentences = [e.transcript.split() for e in train_examples]
        self.words = sorted({w for s in sentences for w in s})
        self.lm = WordNgram.fit(sentences, order=self.model_config.lm_order) if self.model_config.lm_order else None

    def _targets(self, transcript: str) -> list[int]:
        """Characters -> symbol ids (a decoded text's; a reference's are checked by check_transcript first)."""
        return [self.symbols.stoi[c] for c in transcript if c in self.symbols.stoi]

    def check_transcript(self, ex: SpeechExample) -> None:
        if self.symbols is None:
            return
        # a character without a symbol could be neither emitted nor scored: left out, the reference would be
        # another sentence (and a transcript of such characters alone no sentence at all)
        outside = sorted({c for c in ex.transcript if c not in self.symbols.stoi})
        if outside:
            alphabet = "".join(s for s in self.symbols.itos if s != BLANK)
            raise UserError(f"{ex.name}: transcript {ex.transcript[:80]!r} holds {', '.join(map(repr, outside))}, "
                            f"outside the model's alphabet {alphabet!r} (the symbols of its training transcripts"
                            f"{', after data.case = ' + self.data.case if self.data.case != 'keep' else ''})")

    def encode(self, example: SpeechExample) -> dict[str, Any]:
        self.check_transcript(example)  # before the recording is read
        return {"frames": self.encode_frames(example), "targets": self._targets(example.transcript),
                "transcript": example.transcript}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self._frames_batch(features)
        target_lengths = torch.tensor([len(f["targets"]) for f in features], dtype=torch.long)
        targets = torch.zeros(len(features), max(1, int(target_lengths.max())), dtype=torch.long)
        for b, f in enumerate(features):
            targets[b, : len(f["targets"])] = torch.tensor(f["targets"], dtype=torch.long)
        return {**batch, "targets": targets, "target_lengths": target_lengths}

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Frames in; CTC log-probabilities per recurrent step (blank = id 0) and the steps per recording out.
        Greedy or beam decoding (with the lexicon and the n-gram LM) stays outside the graph."""
        return ExportGraph(model, inputs=(self.FRAMES, self.LENGTHS), outputs=(
            ExportTensor("log_probs", "float32", ("batch", "steps", "symbols"), "CTC log-probabilities per step"),
            ExportTensor("step_lengths", "int64", ("batch",), "recurrent steps per recording (frames / subsample)")))

    def build_model(self) -> CTCModel:
        return CTCModel(self.encoder(), len(self.symbols), dropout=self.model_config.dropout)

    def _ctc_loss(self, log_probs: torch.Tensor, lengths: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # zero_infinity: an utterance too short for its transcript (T' < characters + repeats) adds nothing
        # instead of an infinite loss
        return F.ctc_loss(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"], blank=0,
                          reduction="sum", zero_infinity=True)

    def concat_pairs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training augmentation (model.concat_prob = p): each utterance of the batch is, with probability p,
        followed by another of the batch, frames end to end and transcripts joined by a space. A model trained
        on tens of utterances otherwise learns their word sequences by heart (a bidirectional RNN sees the
        whole utterance); joined pairs are sequences it has never heard, so the words must be recognised from
        their sound. Seeded by torch's generator, as dropout is."""
        p, space = self.model_config.concat_prob, self.symbols.stoi.get(" ")
        B = batch["frames"].shape[0]
        if p <= 0 or space is None or B < 2:
            return batch
        partner = (torch.arange(B) + torch.randint(1, B, (B,))) % B  # (B,) another utterance, never itself
        joined = torch.rand(B) < p  # (B,)
        frames, targets = [], []
        for b in range(B):
            n, k = int(batch["lengths"][b]), int(batch["target_lengths"][b])
            x, t = [batch["frames"][b, :n]], [batch["targets"][b, :k]]
            if joined[b]:
                j = int(partner[b])
                x.append(batch["frames"][j, : int(batch["lengths"][j])])
                t += [torch.tensor([space]), batch["targets"][j, : int(batch["target_lengths"][j])]]
            frames.append(torch.cat(x))
            targets.append(torch.cat(t))
        lengths = torch.tensor([len(x) for x in frames])
        target_lengths = torch.tensor([len(t) for t in targets])
        out = {**batch, "frames": torch.nn.utils.rnn.pad_sequence(frames, batch_first=True),  # (B, T2, F)
               "lengths": lengths, "targets": torch.nn.utils.rnn.pad_sequence(targets, batch_first=True),
               "target_lengths": target_lengths}
        return out

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        if model.training:
            batch = self.concat_pairs(batch)
        log_probs, lengths = model(batch["frames"], batch["lengths"])  # (B, T', V); SpecAugment inside, while training
        return LossOutput(self._ctc_loss(log_probs, lengths, batch),
                          max(1, int(batch["target_lengths"].sum())))  # per character

    # ---- decoding (rnnlab.decoding.ctc) -----------------------------------------------------

    def text(self, ids: Iterable[int]) -> str:
        """Symbol ids -> a transcript, spaces normalised as the references are (no leading, trailing or double)."""
        return ctc.transcript(ids, self.symbols.itos)

    def decoder_options(self, beam: int | None = None, lm_weight: float | None = None,
                        word_bonus: float | None = None) -> dict[str, Any]:
        """prefix_beam_search's keyword arguments from the config (or the overrides given)."""
        m = self.model_config
        return ctc.decoder_options(self.symbols.itos, beam=m.beam if beam is None else beam, words=self.words,
                                   lm=self.lm, lexicon=m.lexicon, alpha=m.lm_weight if lm_weight is None else lm_weight,
                                   beta=m.word_bonus if word_bonus is None else word_bonus)

    def decode(self, log_probs: np.ndarray, options: dict[str, Any] | None = None) -> str:
        """(T', V) log-probabilities of one utterance -> its transcript (greedy when beam <= 1)."""
        return self.text(ctc.decode(log_probs, self.decoder_options() if options is None else options, blank=0))

    @torch.no_grad()
    def log_probs(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> list[np.ndarray]:
        """Per utterance its (T', V) log-probabilities, in batch order."""
        out = []
        for batch in batches:
            lp, lengths = model(batch["frames"], batch["lengths"])
            out += [lp[b, :n].cpu().numpy() for b, n in enumerate(lengths.tolist())]
        return out

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        from rnnlab.metrics.speech import cer, wer

        refs, greedy_hyps, beam_hyps, loss_sum, chars = [], [], [], 0.0, 0
        options = self.decoder_options() if self.model_config.eval_decoder == "beam" else None
        for batch in batches:
            lp, lengths = model(batch["frames"], batch["lengths"])
            loss_sum += self._ctc_loss(lp, lengths, batch).item()
            chars += int(batch["target_lengths"].sum())
            for b, n in enumerate(lengths.tolist()):
                refs.append(self.text(batch["targets"][b, : int(batch["target_lengths"][b])].tolist()))
                x = lp[b, :n].cpu().numpy()
                greedy_hyps.append(self.text(ctc.greedy(x, blank=0)))
                if options is not None:
                    beam_hyps.append(self.decode(x, options))
        out = {"loss": loss_sum / max(1, chars), "utterances": float(len(refs))}
        for prefix, hyps in (("", greedy_hyps), ("beam_", beam_hyps)):  # beam_*: only with eval_decoder = beam
            if refs and hyps:
                out.update({prefix + "cer": cer(refs, hyps), prefix + "wer": wer(refs, hyps),
                            prefix + "sentence_accuracy": float(np.mean([r == h for r, h in zip(refs, hyps)]))})
        return out

    def predict(self, model: nn.Module, inputs: list[Any], *, beam: int | None = None, lm_weight: float | None = None,
                word_bonus: float | None = None) -> list[dict[str, Any]]:
        """For each recording: its transcript's words as `sequence` (greedy when beam is 1, else the prefix beam
        search with the lexicon and the word LM), the steps read (`tokens`), and in `audio` the posteriors, the
        best path, greedy's transcript and the words' timings."""
        return self.predict_graphs(torch_graphs(self, model), inputs, beam=beam, lm_weight=lm_weight,
                                   word_bonus=word_bonus)

    def predict_graphs(self, graphs: dict[str, Graph], inputs: list[Any], *, beam: int | None = None,
                       lm_weight: float | None = None, word_bonus: float | None = None) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": frames, lengths -> CTC log-probabilities, step lengths),
        decoded by the same greedy / beam search under every option; nothing of predict's needs the PyTorch
        model, so nothing is left out."""
        return self._predict(graphs["model"], inputs, beam=beam, lm_weight=lm_weight, word_bonus=word_bonus)

    def _predict(self, forward: Forward, inputs: list[Any], *, beam: int | None, lm_weight: float | None,
                 word_bonus: float | None) -> list[dict[str, Any]]:
        """`predict` with the network run by `forward` (see `_run`): the decoding and the formatting."""
        options = self.decoder_options(beam=beam, lm_weight=lm_weight, word_bonus=word_bonus)
        out = []
        for audios, _, (lp, lengths) in self._run(forward, list(inputs)):
            for audio, x, n in zip(audios, lp.float(), lengths.tolist()):
                x = x[:n].numpy()  # (T', V)
                text = self.decode(x, options)
                out.append({"task": self.name, "text": audio.name, "tokens": self.step_tokens(n),
                            "sequence": text.split(), "answer_kind": "transcript",
                            "audio": self._ctc_info(audio, x, text, options)})
        return out

    def _ctc_info(self, audio, x: np.ndarray, text: str, options: dict[str, Any]) -> dict[str, Any]:
        """The prediction's `audio` field for one utterance's (T', V) log-probabilities: the symbols, their
        posteriors per step, the best path, greedy's transcript, and the words of `text` timed by forced alignment."""
        info = self._audio_info(audio, x.shape[0])
        info.update(symbols=[s if s != BLANK else "" for s in self.symbols.itos],
                    posteriors=np.round(np.exp(x), 4).tolist(), best_path=ctc.best_path(x, blank=0).tolist(),
                    greedy=self.text(ctc.greedy(x, blank=0)), decoder="beam" if options["beam"] > 1 else "greedy")
        ids, space = self._targets(text), options["space"]
        try:
            info["words"] = (ctc.word_timings(x, ids, blank=0, space=space, symbols=self.symbols.itos,
                                              frame_seconds=info["frame_seconds"]) if space is not None and ids else [])
        except ValueError:  # the beam's text cannot be aligned to these frames (never for greedy's)
            info["words"] = []
        return info

    def format_prediction(self, prediction: dict[str, Any]) -> str:
        return " ".join(prediction.get("sequence", []))

    def trace(self, model: nn.Module, input: Any) -> dict[str, Any]:
        return self._trace(model, self._audio(input))

    def state_to_json(self) -> dict[str, Any]:
        out = {"normalizer": self.normalizer.to_json(), "vocab.symbols": self.symbols.to_json(),
               "lexicon": list(self.words)}
        if self.lm is not None:
            out["lm"] = self.lm.to_json()
        return out

    def state_from_json(self, state: dict[str, Any]) -> None:
        from rnnlab.decoding.ngram import WordNgram

        self._state_normalizer(state)
        if "vocab.symbols" not in state:
            raise ValueError("missing vocab.symbols")
        symbols = Vocab.from_json(state["vocab.symbols"])
        if symbols.pad_id != 0 or symbols.itos[0] != BLANK:
            raise ValueError(f"vocab.symbols must start with the blank {BLANK}")
        words = state.get("lexicon", [])
        if not (isinstance(words, list) and all(isinstance(w, str) and w for w in words)):
            raise ValueError("lexicon: a list of words")
        self.symbols, self.words = symbols, words
        self.lm = WordNgram.from_json(state["lm"]) if "lm" in state else None
