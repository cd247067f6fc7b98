"""rnnlab.audio.augment: SpecAugment's bands and stretches stay inside each utterance, leave the input alone,
and are fixed by the generator."""
import torch

from rnnlab.audio.augment import spec_augment


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
