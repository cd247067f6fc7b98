"""rnnlab.audio.frontend: the front end inside the model normalises exactly as the task did in numpy before it
moved there (same bits for row-major frames, float rounding for column-major ones), keeps padding at zero,
stacks frames, applies SpecAugment only while training (drawing where the task drew), fits its statistics on
the frames the model sees, and takes weights saved before it had buffers."""
import random

import numpy as np
import pytest
import torch

from rnnlab.audio.augment import spec_augment
from rnnlab.audio.features import FeatureConfig, Normalizer, frames
from rnnlab.audio.frontend import FrontEnd, fit_normalizer, stack_frames, subtract_utterance_mean
from tiny_speech import RATE, tone_wave


def utterances(seed: int = 0, lengths=(37, 12, 25), n_features: int = 6) -> list[np.ndarray]:
    """Log-mel-like frames (T, F) float32, row-major as features.frames returns them."""
    rng = np.random.default_rng(seed)
    return [rng.normal(-8.0, 3.0, (n, n_features)).astype(np.float32) + rng.normal(0, 2, n_features).astype(np.float32)
            for n in lengths]


def padded(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, F) zero-padded, lengths (B,): how the task batches frames."""
    lengths = torch.tensor([len(a) for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()), arrays[0].shape[1])
    for b, a in enumerate(arrays):
        x[b, : len(a)] = torch.from_numpy(a)
    return x, lengths


def numpy_path(x: np.ndarray, norm: Normalizer, utterance_mean: bool) -> np.ndarray:
    """What the task computed before the front end was a module: its _per_utterance, then Normalizer.__call__."""
    if utterance_mean:
        x = (x - x.mean(0, keepdims=True)).astype(np.float32)
    return ((x - norm.mean) / norm.std).astype(np.float32)


def test_stack_frames_concatenates_k_frames_and_rounds_lengths_up():
    x = torch.arange(2 * 7 * 2, dtype=torch.float32).view(2, 7, 2)
    out, lengths = stack_frames(x, torch.tensor([7, 4]), 3)
    assert out.shape == (2, 3, 6) and lengths.tolist() == [3, 2]
    assert out[0, 0].tolist() == x[0, :3].reshape(-1).tolist() and out[0, 2, 2:].abs().sum() == 0  # zero pad
    same, n = stack_frames(x, torch.tensor([7, 4]), 1)
    assert same is x and n.tolist() == [7, 4]


@pytest.mark.parametrize("utterance_mean", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_the_front_end_gives_the_numpy_path_bit_for_bit_with_padding_at_zero(utterance_mean, k):
    arrays = utterances()
    norm = fit_normalizer(arrays, utterance_mean=utterance_mean)
    front = FrontEnd(norm, utterance_mean=utterance_mean, subsample=k).eval()
    x, lengths = padded(arrays)
    out, steps = front(x, lengths)
    # before: each utterance normalised in numpy, then batched with zeros, then stacked
    reference, n = stack_frames(padded([numpy_path(a, norm, utterance_mean) for a in arrays])[0], lengths, k)
    assert torch.equal(out, reference) and torch.equal(steps, n)
    inside = front.normalize(x, lengths)
    assert all((inside[b, n_b:] == 0).all() for b, n_b in enumerate(lengths.tolist()))
    assert (inside[0] != 0).all()  # the longest utterance has no padding, and no exact zero by chance


def test_column_major_frames_agree_to_rounding():
    """Frames with deltas came out of numpy column-major, and numpy summed those pairwise: the utterance mean
    then differs in the last bits only."""
    arrays = [np.asfortranarray(a) for a in utterances(1)]
    norm = Normalizer(np.zeros(6), np.ones(6))
    x, lengths = padded(arrays)
    out = FrontEnd(norm, utterance_mean=True).normalize(x, lengths)
    for b, a in enumerate(arrays):
        torch.testing.assert_close(out[b, : len(a)], torch.from_numpy(numpy_path(a, norm, True)), rtol=0, atol=1e-5)


def test_the_utterance_mean_is_over_each_utterance_alone():
    x, lengths = padded(utterances(2))
    out = subtract_utterance_mean(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[b, :n].mean(0), torch.zeros(x.shape[2]), rtol=0, atol=1e-5)
        assert (out[b, n:] == 0).all()


def test_utterance_mean_makes_the_frames_blind_to_the_recording_level():
    wave = tone_wave(["a", "c"], random.Random(2))
    cfg = FeatureConfig("logmel", RATE, n_mels=16)
    x, lengths = padded([frames(wave, cfg), frames(0.05 * wave, cfg)])  # loud, quiet
    identity = Normalizer(np.zeros(16), np.ones(16))
    a, b = FrontEnd(identity, utterance_mean=True).normalize(x, lengths)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-3)  # log-mel: a gain is a constant, taken away with the mean
    a, b = FrontEnd(identity).normalize(x, lengths)
    assert (a - b).abs().mean() > 1.0  # without it, the level shows in every frame


def test_the_statistics_are_fitted_on_the_frames_the_model_sees():
    arrays = utterances(3, lengths=(40, 64, 9, 30))
    for utterance_mean in (False, True):
        front = FrontEnd(fit_normalizer(arrays, utterance_mean=utterance_mean), utterance_mean=utterance_mean)
        x, lengths = padded(arrays)
        out = front.normalize(x, lengths)
        seen = torch.cat([out[b, :n] for b, n in enumerate(lengths.tolist())]).double()  # every training frame
        torch.testing.assert_close(seen.mean(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-5)
        torch.testing.assert_close(seen.std(0, unbiased=False), torch.ones(6, dtype=torch.float64), rtol=0,
                                   atol=1e-5)


def test_spec_augment_runs_only_while_training_and_draws_where_the_task_drew():
    arrays = utterances(4)
    norm = fit_normalizer(arrays, utterance_mean=False)
    augment = {"freq_masks": 2, "freq_width": 2, "time_masks": 2, "time_width": 5}
    front = FrontEnd(norm, subsample=2, augment=augment)
    x, lengths = padded(arrays)
    clean, _ = front.eval()(x, lengths)
    assert torch.equal(clean, stack_frames(front.normalize(x, lengths), lengths, 2)[0])
    front.train()
    torch.manual_seed(7)
    masked, _ = front(x, lengths)
    torch.manual_seed(7)  # before: the task masked the normalised batch, then called the model
    before = stack_frames(spec_augment(front.normalize(x, lengths), lengths, **augment), lengths, 2)[0]
    assert torch.equal(masked, before) and not torch.equal(masked, clean)
    no_masks = FrontEnd(norm, subsample=2, augment={**augment, "freq_masks": 0, "time_masks": 0}).train()
    assert torch.equal(no_masks(x, lengths)[0], clean)


def test_weights_saved_without_the_statistics_load_strictly_with_the_built_ones():
    norm = fit_normalizer(utterances(5), utterance_mean=False)
    front = FrontEnd(norm)
    assert set(front.state_dict()) == {"mean", "std"}
    assert torch.equal(front.mean, torch.from_numpy(norm.mean)) and torch.equal(front.std, torch.from_numpy(norm.std))
    front.load_state_dict({}, strict=True)  # an old bundle's weights: no front-end keys at all
    assert torch.equal(front.mean, torch.from_numpy(norm.mean)) and torch.equal(front.std, torch.from_numpy(norm.std))
    front.load_state_dict({"mean": torch.zeros(6), "std": torch.full((6,), 2.0)}, strict=True)  # saved ones win
    assert front.mean.abs().sum() == 0 and (front.std == 2).all()
    with pytest.raises(RuntimeError, match="std"):  # one without the other is a damaged file, not an old one
        front.load_state_dict({"mean": torch.zeros(6)}, strict=True)
