"""Speech recognition: from the audio, decide the words (the tutorial's speech example).

Two tasks over one audio front end (rnnlab.audio.features: log-mel or MFCC frames every 10 ms, normalised
with statistics fitted on the training frames):

- `spoken_word` (isolated words, FSDD's spoken digits): a recurrent classifier over the frames; the
  sequence is pooled over time and the class decided at the end.

      frames (B, T, F) -> stack k frames (B, T/k, kF) -> Recurrent (bi) (B, T', D) -> pool (B, D) -> (B, C)

- `speech` (continuous speech, AN4; connected digits): a bidirectional recurrent encoder trained with CTC
  (Graves et al. 2006) over characters. CTC lets the network emit one symbol or a blank per frame and sums
  over every alignment of the transcript to the frames, so no frame-level labels are needed.

      frames (B, T, F) -> stack k frames (B, T', kF) -> Recurrent (bi, L layers) (B, T', D)
                       -> linear (B, T', V) log-probabilities over blank + characters

  Decoding (rnnlab.decoding.ctc): greedy (best symbol per frame, repeats merged, blanks dropped), or a
  prefix beam search with a word n-gram language model and a lexicon, both built from the training
  transcripts (shallow fusion: score = log p_ctc + lm_weight * log p_lm + word_bonus * words).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.audio.augment import spec_augment
from rnnlab.audio.features import FeatureConfig, Normalizer, frames, with_deltas
from rnnlab.audio.strings import DigitString, draw_strings, join
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode
from rnnlab.metrics.classification import accuracy, confusion_matrix, macro_f1
from rnnlab.modules.pooling import AttentionPool, max_pool, mean_pool
from rnnlab.readers.paths import resolve_path
from rnnlab.tasks.base import LossOutput, Task, labels
from rnnlab.vocab import Vocab

FORMATS = ("manifest", "fsdd", "fsdd_strings", "an4")
POOLS = ("mean", "max", "attention")
DECODERS = ("greedy", "beam")
BLANK = "<blank>"
PREDICT_BATCH = 16  # utterances per forward pass in predict
SPECTROGRAM_MELS = 64  # rows of the spectrogram a trace carries for the studio
TRACE_GATE_VALUES = 200_000  # a trace carries the gates only while steps x hidden x layers stays below this


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
    engine: str = "fused"
    # SpecAugment (training only): masks per utterance, widest band / stretch
    freq_masks: int = 0
    freq_width: int = 8
    time_masks: int = 0
    time_width: int = 20
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


@dataclass
class SpeechExample:
    name: str  # what predictions and errors call it: a path, an utterance id, a string's digits
    transcript: str  # the words (spoken_word: the class)
    audio: Path | None = None  # a recording to read
    mfc: Path | None = None  # AN4: a Sphinx MFCC file to read
    parts: tuple = ()  # fsdd_strings: the recordings' paths and the gaps (rnnlab.audio.strings)
    speaker: str = ""
    cache: dict = field(default_factory=dict, repr=False)  # raw frames, computed once


# ---- models ---------------------------------------------------------------------------------------

def stack_frames(x: torch.Tensor, lengths: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, F), lengths (B,) -> (B, ceil(T / k), kF), ceil(lengths / k): k frames side by side per step
    (the last step of an utterance zero-padded)."""
    if k == 1:
        return x, lengths
    B, T, Fdim = x.shape
    pad = (-T) % k
    x = F.pad(x, (0, 0, 0, pad))
    return x.reshape(B, (T + pad) // k, k * Fdim), (lengths + k - 1) // k


class AudioEncoder(nn.Module):
    """Stacked frames -> a (bidirectional) Recurrent: (B, T, F) -> (B, T', D), lengths (B,)."""

    def __init__(self, n_features: int, cfg: SpeechModelConfig, cell: str):
        super().__init__()
        from rnnlab import Recurrent

        self.k = cfg.subsample
        self.rnn = Recurrent(cell, n_features * cfg.subsample, cfg.hidden_size, num_layers=cfg.num_layers,
                             bidirectional=cfg.bidirectional, batch_first=True,
                             dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, engine=cfg.engine)
        self.size = cfg.hidden_size * (2 if cfg.bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = stack_frames(x, lengths, self.k)  # (B, T', kF)
        out, _ = self.rnn(x, lengths=lengths)  # (B, T', D); zeros past each length
        return out, lengths


class WordClassifier(nn.Module):
    """Isolated word: encoder over the frames, pooled over time, linear head: logits (B, C)."""

    def __init__(self, n_features: int, n_classes: int, cfg: SpeechModelConfig, cell: str):
        super().__init__()
        self.encoder = AudioEncoder(n_features, cfg, cell)
        self.pool_kind = cfg.pool
        if cfg.pool == "attention":
            self.attention = AttentionPool(self.encoder.size, self.encoder.size)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.size, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, lengths = self.encoder(x, lengths)  # (B, T', D)
        if self.pool_kind == "attention":
            pooled = self.attention(out, lengths)
        else:
            pooled = (max_pool if self.pool_kind == "max" else mean_pool)(out, lengths)  # (B, D)
        return self.head(self.drop(pooled))  # (B, C)


class CTCModel(nn.Module):
    """Continuous speech: encoder, linear head per step: log-probabilities (B, T', V) over blank + symbols."""

    def __init__(self, n_features: int, n_symbols: int, cfg: SpeechModelConfig, cell: str):
        super().__init__()
        self.encoder = AudioEncoder(n_features, cfg, cell)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.size, n_symbols)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, lengths = self.encoder(x, lengths)  # (B, T', D)
        return self.head(self.drop(out)).float().log_softmax(-1), lengths  # (B, T', V), (B,)


# ---- the shared audio side ------------------------------------------------------------------------

class _AudioTask(Task):
    """Reading, features and normalisation shared by both speech tasks."""

    DataConfig = SpeechData
    ModelConfig = SpeechModelConfig

    def __init__(self, data: SpeechData, model: SpeechModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("sample_rate", "n_mels", "n_mfcc", "hidden_size", "num_layers", "subsample",
                                        "freq_width", "time_width", "beam"),
                          rates=("dropout",))
        for key, allowed in (("format", FORMATS), ("case", ("keep", "lower", "upper"))):
            if getattr(data, key) not in allowed:
                raise UserError(f"data.{key} must be one of {', '.join(allowed)}; got {getattr(data, key)!r}")
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
        self.normalizer: Normalizer | None = None
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

    def _case(self, text: str) -> str:
        text = " ".join(text.split())
        return text.lower() if self.data.case == "lower" else text.upper() if self.data.case == "upper" else text

    def _root(self) -> Path:
        if not self.data.root:
            raise UserError(f"data.root is not set (data.format = {self.data.format} reads its files from it)")
        return resolve_path(self.data.root)

    def _hold_out(self, items: list, *, key=None) -> tuple[list, list]:
        """(train, valid): a fixed `valid_fraction` of items (permutation by split_seed), the rest."""
        if self.data.valid_fraction == 0:
            return items, []
        order = np.random.default_rng(self.data.split_seed).permutation(len(items))
        n_valid = max(1, round(len(items) * self.data.valid_fraction))
        held = set(order[:n_valid].tolist())
        return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]

    def _fsdd_parts(self) -> dict[str, list]:
        """FSDD recordings by split: official (index 0-4 test) or one speaker held out."""
        from rnnlab.readers.audio import fsdd_recordings

        recs = fsdd_recordings(self._root())
        if self.data.test_speaker:
            speakers = sorted({r.speaker for r in recs})
            if self.data.test_speaker not in speakers:
                raise UserError(f"data.test_speaker {self.data.test_speaker!r} is not among the recordings' "
                                f"speakers ({', '.join(speakers)})")
            test = [r for r in recs if r.speaker == self.data.test_speaker]
            rest = [r for r in recs if r.speaker != self.data.test_speaker]
        else:
            test = [r for r in recs if r.index < 5]
            rest = [r for r in recs if r.index >= 5]
        train, valid = self._hold_out(rest)
        return {"train": train, "valid": valid, "test": test}

    def _manifest(self, path_text: str) -> list[SpeechExample]:
        from rnnlab.readers.audio import read_manifest

        return [SpeechExample(f"{t.source}:{t.line}", self._case(t.transcript), audio=t.audio)
                for t in read_manifest(resolve_path(path_text))]

    def read(self, split: str) -> list[SpeechExample]:
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
            return self._hold_out(train)[0 if split == "train" else 1]
        if d.format == "an4":
            from rnnlab.readers.audio import an4_utterances

            if split == "test":
                utts = an4_utterances(self._root(), "test")
            else:
                utts = self._hold_out(an4_utterances(self._root(), "train"))[0 if split == "train" else 1]
            return [SpeechExample(u.id, self._case(u.transcript), mfc=u.features) for u in utts]
        parts = self._fsdd_parts()[split]
        if d.format == "fsdd":
            return [SpeechExample(r.path.name, str(r.digit), audio=r.path, speaker=r.speaker) for r in parts]
        n = {"train": d.strings_train, "valid": d.strings_valid, "test": d.strings_test}[split]
        seed = d.string_seed * 3 + ("train", "valid", "test").index(split)  # each split its own draw
        try:
            strings = draw_strings(n, len(parts), min_digits=d.min_digits, max_digits=d.max_digits,
                                   gap_min=d.gap_min, gap_max=d.gap_max, seed=seed)
        except ValueError as e:
            raise UserError(f"data (fsdd_strings, {split}): {e}") from None
        return [SpeechExample(f"{split}-{i}", " ".join(str(parts[j].digit) for j in s.parts),
                              parts=(tuple(parts[j].path for j in s.parts), s.gaps, (seed, i)))
                for i, s in enumerate(strings)]

    def read_file(self, split: str, path: str) -> list[SpeechExample]:
        """`rnnlab evaluate --data FILE`: a manifest (path, transcript), whatever the training format."""
        return self._manifest(path)

    # ---- features ---------------------------------------------------------------------------

    def _samples(self, path: Path) -> np.ndarray:
        from rnnlab.readers.audio import read_audio

        return read_audio(path, self.features.sample_rate).samples

    def _raw_frames(self, ex: SpeechExample) -> np.ndarray:
        """The example's frames before normalisation (T, F), computed once."""
        if "frames" not in ex.cache:
            if ex.mfc is not None:
                from rnnlab.readers.mfc import read_mfc

                x = with_deltas(read_mfc(ex.mfc, self.features.n_mfcc), self.features.deltas)
            elif ex.parts:
                paths, gaps, noise_seed = ex.parts
                for p in paths:
                    if p not in self._recordings:
                        self._recordings[p] = self._samples(p)
                rng = np.random.default_rng(list(noise_seed)) if self.data.room_tone else None  # per string, fixed
                wave = join([self._recordings[p] for p in paths], DigitString(tuple(range(len(paths))), gaps),
                            self.features.sample_rate, rng)
                x = frames(wave, self.features)
            else:
                try:
                    samples = self._samples(ex.audio)
                except UserError as e:
                    if ex.name in (str(ex.audio), ex.audio.name):
                        raise
                    raise UserError(f"{ex.name}: {e}") from None  # manifest:line: the file's own problem
                x = frames(samples, self.features)
            ex.cache["frames"] = self._per_utterance(x)
        return ex.cache["frames"]

    def _per_utterance(self, x: np.ndarray) -> np.ndarray:
        """(T, F) -> (T, F) less its own mean frame, with model.utterance_mean. A fixed filter on the way to the
        microphone (a voice's timbre, a room, a cheap microphone) adds a constant to every log-mel frame; taking
        the recording's own mean away removes it, so the network meets new speakers and microphones closer to
        the ones it was trained on. The global normaliser is then fitted on frames treated the same way."""
        return (x - x.mean(0, keepdims=True)).astype(np.float32) if self.model_config.utterance_mean else x

    def fit_features(self, train_examples: list[SpeechExample]) -> None:
        if not train_examples:
            raise UserError("the training split is empty")
        self.normalizer = Normalizer.fit(self._raw_frames(e) for e in train_examples)

    def encode_frames(self, ex: SpeechExample) -> np.ndarray:
        x = self.normalizer(self._raw_frames(ex))
        ex.cache.pop("frames", None)  # the normalised copy is what stays
        return x

    def length(self, features: dict[str, Any]) -> int:
        return int(features["frames"].shape[0])

    def _frames_batch(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([f["frames"].shape[0] for f in features], dtype=torch.long)
        x = torch.zeros(len(features), int(lengths.max()), self.features.size)
        for b, f in enumerate(features):
            x[b, : f["frames"].shape[0]] = torch.from_numpy(f["frames"])
        return {"frames": x, "lengths": lengths}  # (B, T, F), (B,)

    def _augment(self, model: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = self.model_config
        if not model.training or (m.freq_masks == 0 and m.time_masks == 0):
            return x
        return spec_augment(x, lengths, freq_masks=m.freq_masks, freq_width=m.freq_width, time_masks=m.time_masks,
                            time_width=m.time_width)

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> Any:
        """A path to a recording (CLI, `predict`); the studio passes Audio objects it read from an upload."""
        from rnnlab.readers.audio import read_audio

        if not str(text).strip():
            raise UserError("empty input: give the path of a WAV (or FLAC, OGG) file")
        return read_audio(Path(str(text).strip()), self.features.sample_rate)

    def parse_audio_bytes(self, data: bytes, name: str) -> Any:
        from rnnlab.readers.audio import audio_from_bytes

        return audio_from_bytes(data, name, self.features.sample_rate)

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

        if not isinstance(input, Audio):
            input = self.parse_input(input)
        elif input.sample_rate != self.features.sample_rate:
            input = Audio(resample(input.samples, input.sample_rate, self.features.sample_rate),
                          self.features.sample_rate, input.name)
        shortest = round(self.features.sample_rate * max(self.features.window_ms, 25.6) / 1000)
        if len(input.samples) < shortest:
            raise UserError(f"{input.name}: recording too short ({len(input.samples)} samples at "
                            f"{self.features.sample_rate} Hz): the model reads windows of {shortest} samples")
        return input

    def _input_frames(self, inputs: list[Any]) -> tuple[list[Any], list[np.ndarray]]:
        audios = [self._audio(x) for x in inputs]
        return audios, [self.normalizer(self._per_utterance(frames(a.samples, self.features))) for a in audios]

    def step_tokens(self, n_steps: int) -> list[str]:
        """What the model read, one per step: a slice of audio, named by the second it starts at."""
        step = self.features.frame_seconds * self.model_config.subsample
        return [f"{i * step:.2f}s" for i in range(n_steps)]

    def _trace(self, model: nn.Module, audio) -> dict[str, Any]:
        """predict's output, the spectrogram, and every layer's state per step (glass engine); gates only
        while they stay small (TRACE_GATE_VALUES), as a long recording would make the page megabytes."""
        from rnnlab.explain import trace_layers

        pred = self.predict(model, [audio])[0]
        pred["audio"]["spectrogram"] = self.spectrogram(audio)
        x = torch.from_numpy(self.normalizer(self._per_utterance(frames(audio.samples, self.features))))[None]
        device = next(model.parameters()).device
        encoder = model.encoder
        with torch.no_grad(), eval_mode(model):
            stacked, lengths = stack_frames(x.to(device), torch.tensor([x.shape[1]]), encoder.k)
            traced = encoder.rnn.trace(stacked, lengths=lengths)
        cfg = self.model_config
        n = stacked.shape[1] * cfg.hidden_size * cfg.num_layers * (2 if cfg.bidirectional else 1)
        layers = trace_layers(traced)
        if n > TRACE_GATE_VALUES:
            for layer in layers:
                layer["gates"] = {}
        return {**pred, "cell": self.cell, "layers": layers}

    def _audio_info(self, audio, n_steps: int) -> dict[str, Any]:
        return {"seconds": round(len(audio.samples) / audio.sample_rate, 4),
                "frame_seconds": round(self.features.frame_seconds * self.model_config.subsample, 6),
                "steps": n_steps}

    def spectrogram(self, audio) -> dict[str, Any]:
        """A log-mel picture of the recording for the studio: (T, SPECTROGRAM_MELS) rounded, 10 ms columns."""
        cfg = FeatureConfig("logmel", self.features.sample_rate, SPECTROGRAM_MELS, hop_ms=self.features.hop_ms,
                            window_ms=max(self.features.window_ms, self.features.hop_ms))
        x = frames(audio.samples, cfg)  # (T, M) natural-log energies
        lo, hi = float(np.percentile(x, 5)), float(x.max())
        x = np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0)  # [0, 1] for drawing
        return {"values": np.round(x, 3).tolist(), "frame_seconds": cfg.frame_seconds, "mels": SPECTROGRAM_MELS}

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

    def encode(self, example: SpeechExample) -> dict[str, Any]:
        label = self.classes.index(example.transcript) if example.transcript in self.classes else -1
        return {"frames": self.encode_frames(example), "label": label}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {**self._frames_batch(features), "label": torch.tensor([f["label"] for f in features])}

    def build_model(self) -> WordClassifier:
        return WordClassifier(self.features.size, len(self.classes), self.model_config, self.cell)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        x = self._augment(model, batch["frames"], batch["lengths"])
        logits = model(x, batch["lengths"])  # (B, C)
        return LossOutput(F.cross_entropy(logits.float(), batch["label"], reduction="sum", ignore_index=-1),
                          int((batch["label"] >= 0).sum()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        gold, pred, loss_sum = [], [], 0.0
        for batch in batches:
            logits = model(batch["frames"], batch["lengths"]).float()
            known = batch["label"] >= 0
            loss_sum += F.cross_entropy(logits[known], batch["label"][known], reduction="sum").item()
            gold += batch["label"].tolist()
            pred += logits.argmax(-1).tolist()
        n = len(gold)
        # an example whose class training never saw (label -1) counts as wrong: its own row in the confusion
        confusion = confusion_matrix(torch.tensor([g if g >= 0 else len(self.classes) for g in gold]),
                                     torch.tensor(pred), len(self.classes) + 1)
        return {"accuracy": accuracy(confusion) if n else 0.0, "macro_f1": macro_f1(confusion[:-1, :-1]) if n else 0.0,
                "loss": loss_sum / max(1, sum(g >= 0 for g in gold)), "examples": float(n)}

    def predict(self, model: nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        audios, feats = self._input_frames(inputs)
        device = next(model.parameters()).device
        out = []
        for start in range(0, len(feats), PREDICT_BATCH):
            batch = self._frames_batch([{"frames": f} for f in feats[start:start + PREDICT_BATCH]])
            with eval_mode(model), torch.no_grad():
                probs = model(batch["frames"].to(device), batch["lengths"].to(device)).float().softmax(-1).cpu()
            for audio, p, n in zip(audios[start:], probs, batch["lengths"].tolist()):
                ranking = labels(self.classes, p)
                steps = math.ceil(n / self.model_config.subsample)
                out.append({"task": self.name, "text": audio.name, "tokens": self.step_tokens(steps),
                            "answer": ranking[0],
                            "answer_kind": "word", "ranking": ranking,
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

    def __init__(self, data: SpeechData, model: SpeechModelConfig):
        super().__init__(data, model)
        if model.lm_order < 0 or model.lm_weight < 0:
            raise UserError("model.lm_order and model.lm_weight must be >= 0")
        self.symbols: Vocab | None = None
        self.lm = None  # rnnlab.decoding.ngram.WordNgram, from the training transcripts
        self.words: list[str] = []  # the lexicon: every word of the training transcripts

    def fit(self, train_examples: list[SpeechExample]) -> None:
        from rnnlab.decoding.ngram import WordNgram

        self.fit_features(train_examples)
        chars = sorted({c for e in train_examples for c in e.transcript})
        self.symbols = Vocab(chars, pad=BLANK, unk=None)  # id 0 = the CTC blank
        sentences = [e.transcript.split() for e in train_examples]
        self.words = sorted({w for s in sentences for w in s})
        self.lm = WordNgram.fit(sentences, order=self.model_config.lm_order) if self.model_config.lm_order else None

    def _targets(self, transcript: str) -> list[int]:
        """Characters -> symbol ids; characters never seen in training have no symbol and are left out
        (the reference text used for scoring keeps them)."""
        return [self.symbols.stoi[c] for c in transcript if c in self.symbols.stoi]

    def encode(self, example: SpeechExample) -> dict[str, Any]:
        return {"frames": self.encode_frames(example), "targets": self._targets(example.transcript),
                "transcript": example.transcript}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self._frames_batch(features)
        target_lengths = torch.tensor([len(f["targets"]) for f in features], dtype=torch.long)
        targets = torch.zeros(len(features), max(1, int(target_lengths.max())), dtype=torch.long)
        for b, f in enumerate(features):
            targets[b, : len(f["targets"])] = torch.tensor(f["targets"], dtype=torch.long)
        return {**batch, "targets": targets, "target_lengths": target_lengths}

    def build_model(self) -> CTCModel:
        return CTCModel(self.features.size, len(self.symbols), self.model_config, self.cell)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        x = self._augment(model, batch["frames"], batch["lengths"])
        log_probs, lengths = model(x, batch["lengths"])  # (B, T', V)
        # zero_infinity: an utterance too short for its transcript (T' < characters + repeats) adds nothing
        # instead of an infinite loss
        total = F.ctc_loss(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"], blank=0,
                           reduction="sum", zero_infinity=True)
        return LossOutput(total, max(1, int(batch["target_lengths"].sum())))  # per character

    # ---- decoding ---------------------------------------------------------------------------

    def text(self, ids: Iterable[int]) -> str:
        """Symbol ids -> a transcript, spaces normalised as the references are (no leading, trailing or double)."""
        raw = "".join(self.symbols.itos[i] for i in ids)
        return " ".join(w for w in raw.split(" ") if w)

    def decoder_options(self, beam: int | None = None, lm_weight: float | None = None,
                        word_bonus: float | None = None) -> dict[str, Any]:
        """prefix_beam_search's keyword arguments from the config (or the overrides given)."""
        from rnnlab.decoding.ctc import Lexicon

        m = self.model_config
        space = self.symbols.stoi.get(" ")
        words = space is not None
        lexicon = None
        if m.lexicon and words and self.words:
            lexicon = Lexicon([[self.symbols.stoi[c] for c in w] for w in self.words])
        return {"beam": m.beam if beam is None else beam, "space": space, "symbols": self.symbols.itos,
                "lm": self.lm if words else None, "lexicon": lexicon,
                "alpha": m.lm_weight if lm_weight is None else lm_weight,
                "beta": m.word_bonus if word_bonus is None else word_bonus}

    def decode(self, log_probs: np.ndarray, options: dict[str, Any] | None = None) -> str:
        """(T', V) log-probabilities of one utterance -> its transcript (greedy when beam <= 1)."""
        from rnnlab.decoding.ctc import greedy, prefix_beam_search

        options = self.decoder_options() if options is None else options
        if options["beam"] <= 1:
            return self.text(greedy(log_probs, blank=0))
        return self.text(prefix_beam_search(log_probs, blank=0, **options)[0].ids)

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
        from rnnlab.decoding.ctc import greedy
        from rnnlab.metrics.speech import cer, wer

        refs, greedy_hyps, beam_hyps, loss_sum, chars = [], [], [], 0.0, 0
        options = self.decoder_options() if self.model_config.eval_decoder == "beam" else None
        for batch in batches:
            lp, lengths = model(batch["frames"], batch["lengths"])
            loss_sum += F.ctc_loss(lp.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"], blank=0,
                                   reduction="sum", zero_infinity=True).item()
            chars += int(batch["target_lengths"].sum())
            for b, n in enumerate(lengths.tolist()):
                refs.append(self.text(batch["targets"][b, : int(batch["target_lengths"][b])].tolist()))
                x = lp[b, :n].cpu().numpy()
                greedy_hyps.append(self.text(greedy(x, blank=0)))
                if options is not None:
                    beam_hyps.append(self.decode(x, options))
        out = {"loss": loss_sum / max(1, chars), "utterances": float(len(refs))}
        if refs:
            out.update(cer=cer(refs, greedy_hyps), wer=wer(refs, greedy_hyps),
                       sentence_accuracy=float(np.mean([r == h for r, h in zip(refs, greedy_hyps)])))
            if beam_hyps:
                out.update(beam_cer=cer(refs, beam_hyps), beam_wer=wer(refs, beam_hyps),
                           beam_sentence_accuracy=float(np.mean([r == h for r, h in zip(refs, beam_hyps)])))
        return out

    def predict(self, model: nn.Module, inputs: list[Any], *, beam: int | None = None) -> list[dict[str, Any]]:
        from rnnlab.decoding.ctc import best_path, greedy, word_timings

        audios, feats = self._input_frames(inputs)
        device = next(model.parameters()).device
        options = self.decoder_options(beam=beam)
        space = self.symbols.stoi.get(" ")
        out = []
        for start in range(0, len(feats), PREDICT_BATCH):
            batch = self._frames_batch([{"frames": f} for f in feats[start:start + PREDICT_BATCH]])
            with eval_mode(model), torch.no_grad():
                lp, lengths = model(batch["frames"].to(device), batch["lengths"].to(device))
            for audio, x, n in zip(audios[start:], lp.cpu(), lengths.tolist()):
                x = x[:n].numpy()  # (T', V)
                greedy_text = self.text(greedy(x, blank=0))
                text = self.decode(x, options)
                ids = self._targets(text)
                info = self._audio_info(audio, n)
                info.update(symbols=[s if s != BLANK else "" for s in self.symbols.itos],
                            posteriors=np.round(np.exp(x), 4).tolist(), best_path=best_path(x, blank=0).tolist(),
                            greedy=greedy_text, decoder="beam" if options["beam"] > 1 else "greedy")
                try:
                    info["words"] = (word_timings(x, ids, blank=0, space=space, symbols=self.symbols.itos,
                                                  frame_seconds=info["frame_seconds"])
                                     if space is not None and ids else [])
                except ValueError:  # the beam's text cannot be aligned to these frames (never for greedy's)
                    info["words"] = []
                out.append({"task": self.name, "text": audio.name, "tokens": self.step_tokens(n),
                            "sequence": text.split(),
                            "answer_kind": "transcript", "audio": info})
        return out

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
