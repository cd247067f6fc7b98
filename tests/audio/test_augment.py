"""rnnlab.audio.augment: SpecAugment's bands and stretches stay inside each utterance, leave the input alone,
and are fixed by the generator; the tempo stretch resamples frames and lengths together."""
import torch

from rnnlab.audio.augment import spec_augment, time_stretch


def test_spec_augment_masks_bands_and_stretches_inside_each_utterance():
    x = torch.ones(3, 50, 20)
    lengths = torch.tensor([50, 30, 10])
    out = spec_augment(x, lengths, freq_masks=2, freq_width=5, time_masks=2, time_width=8, time_ratio=0.3,
                       generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.ones(3, 50, 20))  # the input is not changed
    for b, n in enumerate(lengths.tolist()):
        zero_chans = int((out[b] == 0).all(0).sum())  # channels masked at every frame
        zero_steps = int((out[b, :n] == 0).all(1).sum())
        assert zero_chans <= 10 and zero_steps <= 2 * min(8, int(0.3 * n))
        assert (out[b, n:] == 1).all() or zero_chans > 0  # no time mask past the utterance's end
    same = spec_augment(x, lengths, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, spec_augment(x, lengths, generator=torch.Generator().manual_seed(0)))


def test_time_stretch_resamples_the_batch_and_its_lengths():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 100, 3)
    x[0, :100] = torch.linspace(0, 1, 100)[:, None]  # a ramp over the whole first utterance
    x[1, :40] = 1.0  # the second is 40 frames long
    lengths = torch.tensor([100, 40])
    seen = set()
    for _ in range(20):
        y, new = time_stretch(x, lengths, stretch=0.2, generator=g)
        r = y.shape[1] / 100
        seen.add(y.shape[1])
        assert 0.8 - 1e-9 <= r <= 1.2 + 1e-9
        assert new.tolist() == [y.shape[1], round(40 * r)]
        assert torch.all(y[1, new[1]:] == 0) and torch.all(y[1, : new[1] - 1] > 0.99)  # padding stays zero
        ramp = y[0, : new[0], 0]
        assert torch.all(ramp[1:] >= ramp[:-1]) and ramp[0] < 0.02 and ramp[-1] > 0.98  # the same ramp, resampled
    assert len(seen) > 5  # the factor is drawn, not fixed
    same, same_lengths = time_stretch(x, lengths, stretch=0.0)
    assert same is x and same_lengths is lengths
