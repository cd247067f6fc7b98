"""Training-time augmentation of a padded batch of normalised frames.

SpecAugment (Park et al. 2019), the frequency- and time-masking part: random bands of mel channels and
random stretches of frames are set to zero (the mean, after normalisation), so the network cannot lean on
any one band or moment. Time warping is left out (the paper found it the least useful); the masks stay
inside each utterance's own length.

Tempo (`time_stretch`): the whole batch is played faster or slower by a factor drawn from [1 - s, 1 + s],
the frames resampled along time by linear interpolation; the frame-level counterpart of Kaldi's speed
perturbation (Ko et al. 2015, which changes pitch too). A speaker's pace is one more thing a model trained
on tens of utterances must not memorise."""
from __future__ import annotations

import torch


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, *, freq_masks: int = 2, freq_width: int = 8,
                 time_masks: int = 2, time_width: int = 20, time_ratio: float = 0.2,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """x (B, T, F) normalised frames, lengths (B,) -> a masked copy.

    Each utterance gets `freq_masks` bands of f ~ U[0, freq_width] channels and `time_masks` stretches of
    t ~ U[0, min(time_width, time_ratio * length)] frames, each at a uniform position (the paper's F, mF,
    T, mT and p)."""
    B, T, F = x.shape
    out = x.clone()
    chans = torch.arange(F)
    steps = torch.arange(T)
    for b in range(B):
        n = int(lengths[b])
        for _ in range(freq_masks):
            f = int(torch.randint(0, freq_width + 1, (1,), generator=generator))
            f0 = int(torch.randint(0, max(1, F - f + 1), (1,), generator=generator))
            out[b, :, (chans >= f0) & (chans < f0 + f)] = 0.0
        widest = min(time_width, int(time_ratio * n))
        for _ in range(time_masks):
            t = int(torch.randint(0, widest + 1, (1,), generator=generator))
            t0 = int(torch.randint(0, max(1, n - t + 1), (1,), generator=generator))
            out[b, (steps >= t0) & (steps < t0 + t)] = 0.0
    return out


def time_stretch(x: torch.Tensor, lengths: torch.Tensor, *, stretch: float,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, T, F), lengths (B,) -> (B, T2, F), lengths2 (B,): one factor r ~ U[1 - stretch, 1 + stretch] for
    the batch, T2 = round(T * r), each length round(length * r) (at least 1), frames past it zero."""
    if stretch <= 0:
        return x, lengths
    r = 1.0 + stretch * (2.0 * float(torch.rand((), generator=generator)) - 1.0)
    T2 = max(1, round(x.shape[1] * r))
    out = torch.nn.functional.interpolate(x.transpose(1, 2), size=T2, mode="linear", align_corners=False)
    out = out.transpose(1, 2).contiguous()  # (B, T2, F)
    new_lengths = torch.clamp(torch.round(lengths.float() * (T2 / x.shape[1])).long(), 1, T2)
    keep = torch.arange(T2)[None, :] < new_lengths[:, None]  # (B, T2)
    return out * keep[..., None], new_lengths
