"""The audio front end, assembled here and nowhere else: from a recording to the steps the recurrent layers read.

    example / recording        -> frames (T, F)         example_frames / features.frames (librosa), or AN4's
                                                         Sphinx MFCC files as read: once per recording, numpy
    frames (B, T, F), lengths  -> less the utterance's own mean frame        (utterance_mean)
                               -> (x - mean) / std per feature, fitted on train (buffers of the model)
                               -> SpecAugment masks                          (training only)
                               -> k frames stacked per step (B, T', kF)      (subsample)

Everything after the features is `FrontEnd`, an nn.Module inside the model, so the statistics fitted on the
training frames travel in model.safetensors with the weights: the model reads raw frames, and a model taken
out of its bundle normalises a recording exactly as in training. The features stay outside: librosa's
filterbanks are numpy, and a recording's frames are computed once, not every epoch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.audio.augment import spec_augment, time_stretch
from rnnlab.audio.features import FeatureConfig, Normalizer, frames, with_deltas
from rnnlab.readers.mfc import read_mfc
from rnnlab.readers.speech import SpeechExample, example_wave


def example_frames(ex: SpeechExample, cfg: FeatureConfig, recordings: dict[Path, np.ndarray] | None = None, *,
                   room_tone: bool = True) -> np.ndarray:
    """A dataset example's raw frames (T, F): AN4's Sphinx MFCCs as read (deltas appended as `cfg` says), or
    `cfg`'s features of its waveform (readers.speech.example_wave)."""
    if ex.mfc is not None:
        return with_deltas(read_mfc(ex.mfc, cfg.n_mfcc), cfg.deltas)
    return frames(example_wave(ex, cfg.sample_rate, recordings, room_tone=room_tone), cfg)


def stack_frames(x: torch.Tensor, lengths: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, F), lengths (B,) -> (B, ceil(T / k), kF), ceil(lengths / k): k frames side by side per step
    (the last step of an utterance zero-padded)."""
    if k == 1:
        return x, lengths
    B, T, Fdim = x.shape
    pad = (-T) % k
    x = F.pad(x, (0, 0, 0, pad))
    return x.reshape(B, (T + pad) // k, k * Fdim), (lengths + k - 1) // k


def frame_mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, F), lengths (B,) -> (B, T, 1) bool: True on each utterance's own frames, False on padding."""
    return (torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]


def subtract_utterance_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, F) -> (B, T, F) less each utterance's mean frame over its own length (padding left at zero).

    A fixed filter on the way to the microphone (a voice's timbre, a room, a cheap microphone) adds a
    constant to every log-mel frame; taking the recording's own mean away removes it, so the network meets
    new speakers and microphones closer to the ones it was trained on (cepstral mean normalisation)."""
    mask = frame_mask(x, lengths)  # (B, T, 1)
    # Summed frame after frame in x's dtype: the order numpy sums a row-major (T, F) array over axis 0, and
    # the task took this mean in numpy before it moved into the model, so models trained then (deltas = 0:
    # row-major frames) get the same numbers to the last bit; with deltas numpy's frames were column-major
    # and summed pairwise, and the means agree to rounding. A padded frame adds an exact 0. T small steps:
    # cheap beside the recurrent layers.
    total = x.new_zeros(x.shape[0], x.shape[2])  # (B, F)
    for t in range(x.shape[1]):
        total = total + x[:, t] * mask[:, t]
    mean = total / lengths.to(x.device).clamp(min=1)[:, None]  # (B, F)
    return (x - mean[:, None]) * mask


def fit_normalizer(frame_arrays: Iterable[np.ndarray], *, utterance_mean: bool) -> Normalizer:
    """The per-feature mean and std of the training frames (T, F) each, as the model will see them: after
    the utterance mean when the model takes it away, so that the normalised training frames are standard."""
    def seen(x: np.ndarray) -> np.ndarray:
        if not utterance_mean:
            return x
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]  # (1, T, F)
        return subtract_utterance_mean(t, torch.tensor([t.shape[1]]))[0].numpy()

    return Normalizer.fit(seen(x) for x in frame_arrays)


class FrontEnd(nn.Module):
    """Raw frames (B, T, F), lengths (B,) -> recurrent steps (B, T', kF), lengths (B,): the utterance mean,
    the training normaliser (buffers `mean`, `std`), SpecAugment while training, then k frames per step.
    Frames past an utterance's length are zero after normalisation, as they were before it (the last
    stacked step of an utterance, and SpecAugment, read them)."""

    def __init__(self, normalizer: Normalizer, *, utterance_mean: bool = False, subsample: int = 1,
                 augment: dict[str, Any] | None = None):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(normalizer.mean, dtype=torch.float32).clone())  # (F,)
        self.register_buffer("std", torch.as_tensor(normalizer.std, dtype=torch.float32).clone())  # (F,)
        self.utterance_mean = utterance_mean
        self.k = subsample
        # spec_augment's keywords (freq_masks, freq_width, time_masks, time_width) and time_stretch (the
        # tempo's largest relative change); None, or no masks and no stretch = off
        self.augment = dict(augment or {})
        self.stretch = self.augment.pop("time_stretch", 0.0)
        self.register_load_state_dict_pre_hook(_fill_statistics)

    @property
    def n_features(self) -> int:
        """F: features per frame read."""
        return int(self.mean.shape[0])

    @property
    def step_size(self) -> int:
        """kF: features per recurrent step."""
        return self.n_features * self.k

    def normalize(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, F) raw frames -> (B, T, F) normalised, zeros past each length."""
        assert x.ndim == 3 and x.shape[-1] == self.n_features, \
            f"frames {tuple(x.shape)}, the front end reads (B, T, {self.n_features})"
        if self.utterance_mean:
            x = subtract_utterance_mean(x, lengths)
        return ((x - self.mean) / self.std).masked_fill(~frame_mask(x, lengths), 0.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.normalize(x, lengths)  # (B, T, F)
        if self.training and self.stretch:
            x, lengths = time_stretch(x, lengths, stretch=self.stretch)  # (B, T2, F)
        if self.training and (self.augment.get("freq_masks") or self.augment.get("time_masks")):
            x = spec_augment(x, lengths, **self.augment)
        return stack_frames(x, lengths, self.k)  # (B, T', kF), (B,)

    def extra_repr(self) -> str:
        return f"features={self.n_features}, utterance_mean={self.utterance_mean}, subsample={self.k}"


def _fill_statistics(module: FrontEnd, state_dict: dict, prefix: str, *args) -> None:
    """load_state_dict pre-hook: weights saved before the statistics were buffers of the model (a bundle
    kept them only in its task's normalizer.json, which the model is built from) have neither key; they
    get the values the model was built with, so strict loading still accepts them. One key without the
    other is a damaged file, which strict loading reports."""
    keys = [prefix + name for name in ("mean", "std")]
    if not any(k in state_dict for k in keys):
        for key, name in zip(keys, ("mean", "std")):
            state_dict[key] = getattr(module, name).detach().clone()
