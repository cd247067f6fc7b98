"""Frames from audio: log-mel filterbanks or MFCCs (librosa), optional deltas, the per-feature statistics
fitted on the training frames, and a spectrogram to draw.

    samples (n,) float32 at sample_rate -> frames (T, F) float32, one frame every hop_ms

Speech recognisers do not read raw samples: a short-time spectrum every 10 ms, warped to the mel scale
(how pitch is heard) and log-compressed (how loudness is heard), is what the recurrent layers read. MFCCs
are the same log-mel energies decorrelated by a DCT and cut to the first few coefficients.

`kind = "sphinx_mfcc"` imitates CMU Sphinx's front end (sphinx_fe: 16 kHz, pre-emphasis 0.97, a 25.6 ms
Hamming window, 512-point FFT, 40 filters from 130 to 6800 Hz, natural log, DCT-II scaled as Sphinx's
legacy mode, 13 cepstra, samples on the int16 scale), so that a model trained on AN4's Sphinx .mfc files
can read a user's WAV. It is an approximation (Sphinx's filter shapes and DCT are its own); the global
normaliser fitted on the training frames absorbs constant offsets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

KINDS = ("logmel", "mfcc", "sphinx_mfcc")
LOG_FLOOR = 1e-10  # log(0) guard: silence gives -23, never -inf


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "logmel"  # logmel | mfcc | sphinx_mfcc
    sample_rate: int = 16000  # audio is resampled to this before the features
    n_mels: int = 40
    n_mfcc: int = 13  # mfcc / sphinx_mfcc: coefficients kept
    window_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 0.0
    f_max: float = 0.0  # 0 = sample_rate / 2
    deltas: int = 0  # 0, 1 (append delta) or 2 (delta and delta-delta): librosa.feature.delta

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"features must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.deltas not in (0, 1, 2):
            raise ValueError(f"deltas must be 0, 1 or 2; got {self.deltas}")
        if self.sample_rate < 1000 or self.hop_ms <= 0 or self.window_ms < self.hop_ms:
            raise ValueError("sample_rate >= 1000, hop_ms > 0 and window_ms >= hop_ms")

    @property
    def base_size(self) -> int:
        return self.n_mels if self.kind == "logmel" else self.n_mfcc

    @property
    def size(self) -> int:
        """F: features per frame, deltas included."""
        return self.base_size * (1 + self.deltas)

    @property
    def frame_seconds(self) -> float:
        return self.hop_ms / 1000.0

    @property
    def min_samples(self) -> int:
        """The shortest recording the front end reads: one analysis window (Sphinx's is 25.6 ms)."""
        return round(self.sample_rate * max(self.window_ms, 25.6) / 1000)


def _fft_size(window: int) -> int:
    return 1 << max(0, (window - 1).bit_length())  # the next power of two


def frames(samples: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """samples (n,) float32 at cfg.sample_rate -> (T, F) float32, T = 1 + n // hop (centred frames)."""
    import librosa  # imported here: librosa (scipy, numba) takes seconds to import; only audio tasks pay it

    sr = cfg.sample_rate
    hop = max(1, round(sr * cfg.hop_ms / 1000))
    f_max = cfg.f_max or sr / 2
    y = np.asarray(samples, dtype=np.float32)
    if cfg.kind == "sphinx_mfcc":
        window = round(sr * 0.0256)
        y = librosa.effects.preemphasis(y * 32768.0, coef=0.97)  # Sphinx reads int16 samples
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, win_length=window, hop_length=hop,
                                             window="hamming", n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=f_max,
                                             power=2.0, htk=True, norm=None)  # (n_mels, T)
        # Sphinx legacy DCT: c_k = (1 / N) sum_j log(E_j) cos(pi k (j + 1/2) / N), c_0 halved;
        # librosa's unnormalised DCT-II is 2 sum_j ..., hence / (2 N)
        out = librosa.feature.mfcc(S=np.log(np.maximum(mel, LOG_FLOOR)), n_mfcc=cfg.n_mfcc, dct_type=2,
                                   norm=None) / (2 * cfg.n_mels)
        out[0] *= 0.5
    else:
        window = round(sr * cfg.window_ms / 1000)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=_fft_size(window), win_length=window,
                                             hop_length=hop, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=f_max,
                                             power=2.0)  # (n_mels, T)
        out = np.log(np.maximum(mel, LOG_FLOOR))
        if cfg.kind == "mfcc":
            out = librosa.feature.mfcc(S=out, n_mfcc=cfg.n_mfcc, norm="ortho")  # (n_mfcc, T)
    return with_deltas(out.T.astype(np.float32), cfg.deltas)


def spectrogram(samples: np.ndarray, cfg: FeatureConfig, mels: int = 64) -> dict[str, Any]:
    """A log-mel picture of a recording to draw (the studio): `mels` rows at `cfg`'s rate and hop, scaled to
    [0, 1] between the 5th percentile and the loudest cell and rounded; (T, mels) values, one column a hop."""
    cfg = FeatureConfig("logmel", cfg.sample_rate, mels, hop_ms=cfg.hop_ms, window_ms=max(cfg.window_ms, cfg.hop_ms))
    x = frames(samples, cfg)  # (T, mels) natural-log energies
    lo, hi = float(np.percentile(x, 5)), float(x.max())
    x = np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0)  # [0, 1] for drawing
    return {"values": np.round(x, 3).tolist(), "frame_seconds": cfg.frame_seconds, "mels": mels}


def with_deltas(base: np.ndarray, deltas: int) -> np.ndarray:
    """(T, F0) -> (T, F0 * (1 + deltas)): the frames followed by their delta (and delta-delta) over time."""
    if deltas == 0:
        return np.ascontiguousarray(base, dtype=np.float32)
    import librosa

    # librosa's delta needs at least `width` (9) frames; a shorter utterance gets a narrower odd width
    width = min(9, base.shape[0] if base.shape[0] % 2 else base.shape[0] - 1)
    parts = [base]
    for order in range(1, deltas + 1):
        parts.append(librosa.feature.delta(base.T, width=width, order=order, mode="nearest").T
                     if width >= 3 else np.zeros_like(base))
    return np.concatenate(parts, axis=1).astype(np.float32)


class Normalizer:
    """Per-feature mean and standard deviation over every training frame: the statistics the model's front
    end (rnnlab.audio.frontend.FrontEnd) normalises with, (x - mean) / std.

    Fitted on train only (the test recordings must not leak into the features); kept in the bundle as JSON
    (the model is built from it) and as the front end's buffers in the weights, so a served model
    normalises a user's audio exactly as it normalised its training audio."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    @classmethod
    def fit(cls, frame_arrays: Iterable[np.ndarray]) -> "Normalizer":
        total, total_sq, n = None, None, 0
        for x in frame_arrays:  # accumulated in float64: millions of frames
            x = np.asarray(x, np.float64)
            total = x.sum(0) if total is None else total + x.sum(0)
            total_sq = (x * x).sum(0) if total_sq is None else total_sq + (x * x).sum(0)
            n += x.shape[0]
        if not n:
            raise ValueError("no frames to fit the normaliser on")
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0))
        return cls(mean, np.maximum(std, 1e-5))

    def to_json(self) -> dict[str, Any]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_json(cls, d: Any) -> "Normalizer":
        if not (isinstance(d, dict) and isinstance(d.get("mean"), list) and isinstance(d.get("std"), list)
                and len(d["mean"]) == len(d["std"]) > 0
                and all(isinstance(v, (int, float)) and np.isfinite(v) for v in d["mean"] + d["std"])
                and all(v > 0 for v in d["std"])):
            raise ValueError("a normaliser is {mean: [F finite floats], std: [F positive floats]}")
        return cls(np.array(d["mean"]), np.array(d["std"]))
