"""SpecAugment (Park et al. 2019), the frequency- and time-masking part: during training, random bands of
mel channels and random stretches of frames are set to zero (the mean, after normalisation), so the
network cannot lean on any one band or moment. Time warping is left out (the paper found it the least
useful). Applied to a padded batch; the masks stay inside each utterance's own length."""
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
