"""rnnlab.audio.models: a seeded build creates the parameters the speech models always had, in the order they
always had them; a model reading raw frames answers exactly what the model before it answered from frames the
task normalised; weights saved before the front end had buffers load strictly."""
import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.audio.features import Normalizer
from rnnlab.audio.frontend import FrontEnd, fit_normalizer
from rnnlab.audio.models import AudioEncoder, CTCModel, WordClassifier
from rnnlab.layers import Recurrent, RecurrentConfig
from rnnlab.modules.pooling import AttentionPool

F, H, K = 5, 8, 2
FRONT_KEYS = {"encoder.front_end.mean", "encoder.front_end.std"}


def frames_of(seed: int, lengths=(23, 9, 16)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(-7.0, 2.0, (n, F)).astype(np.float32) for n in lengths]


def batch(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(a) for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()), F)
    for b, a in enumerate(arrays):
        x[b, : len(a)] = torch.from_numpy(a)
    return x, lengths


def build(kind: str, norm: Normalizer, *, utterance_mean: bool = False, pool: str = "attention",
          cell: str = "gru", num_layers: int = 2) -> nn.Module:
    recurrent = RecurrentConfig(cell, H, num_layers=num_layers, bidirectional=True, dropout=0.1)
    encoder = AudioEncoder(FrontEnd(norm, utterance_mean=utterance_mean, subsample=K), recurrent)
    if kind == "ctc":
        return CTCModel(encoder, 6, dropout=0.1)
    return WordClassifier(encoder, 4, pool=pool, dropout=0.1)


@pytest.mark.parametrize("kind, pool", [("ctc", "mean"), ("word", "attention"), ("word", "max")])
def test_a_seeded_build_creates_the_old_parameters_in_the_old_order(kind, pool):
    norm = fit_normalizer(frames_of(0), utterance_mean=False)
    torch.manual_seed(3)
    model = build(kind, norm, pool=pool, cell="lstm")
    torch.manual_seed(3)  # the order the models always created them in: recurrent layers, attention, head
    rnn = Recurrent("lstm", F * K, H, num_layers=2, bidirectional=True, batch_first=True, dropout=0.1)
    parts = {"encoder.rnn": rnn}
    if pool == "attention" and kind == "word":
        parts["attention"] = AttentionPool(2 * H, 2 * H)
    parts["head"] = nn.Linear(2 * H, 6 if kind == "ctc" else 4)
    expected = {f"{prefix}.{k}": v for prefix, part in parts.items() for k, v in part.state_dict().items()}
    state = model.state_dict()
    assert set(state) == set(expected) | FRONT_KEYS  # the old keys, and the two buffers beside them
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    assert [n for n, _ in model.named_parameters()] == list(expected)  # the optimizer's order too


@pytest.mark.parametrize("kind", ["ctc", "word"])
@pytest.mark.parametrize("utterance_mean", [False, True])
def test_the_model_on_raw_frames_answers_what_the_old_path_answered(kind, utterance_mean):
    """Old path: the task took the utterance mean and normalised in numpy, and the model read those frames.
    Its stand-in: the same weights behind a front end that changes nothing (mean 0, std 1)."""
    arrays = frames_of(1)
    norm = fit_normalizer(arrays, utterance_mean=utterance_mean)
    torch.manual_seed(0)
    model = build(kind, norm, utterance_mean=utterance_mean).eval()
    old = build(kind, Normalizer(np.zeros(F), np.ones(F))).eval()
    old.load_state_dict({k: v for k, v in model.state_dict().items() if k not in FRONT_KEYS}, strict=False)
    normalised = []
    for a in arrays:  # the task's numpy front end, as it was
        a = (a - a.mean(0, keepdims=True)).astype(np.float32) if utterance_mean else a
        normalised.append(((a - norm.mean) / norm.std).astype(np.float32))
    with torch.no_grad():
        new_out, old_out = model(*batch(arrays)), old(*batch(normalised))
    if kind == "ctc":
        assert torch.equal(new_out[1], old_out[1])
        new_out, old_out = new_out[0], old_out[0]
    torch.testing.assert_close(new_out, old_out, rtol=0, atol=0)


def test_weights_saved_before_the_front_end_load_strictly_and_answer_the_same():
    norm = fit_normalizer(frames_of(2), utterance_mean=True)
    torch.manual_seed(1)
    saved = build("ctc", norm, utterance_mean=True).eval()
    old_style = {k: v for k, v in saved.state_dict().items() if k not in FRONT_KEYS}  # what old bundles hold
    torch.manual_seed(2)  # other weights, the same statistics: as a bundle builds its model from normalizer.json
    loaded = build("ctc", norm, utterance_mean=True).eval()
    result = loaded.load_state_dict(old_style, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x, lengths = batch(frames_of(3))
    with torch.no_grad():
        assert torch.equal(loaded(x, lengths)[0], saved(x, lengths)[0])
    assert torch.equal(loaded.encoder.front_end.mean, torch.from_numpy(norm.mean))
    broken = {k: v for k, v in saved.state_dict().items() if k != "encoder.front_end.std"}
    with pytest.raises(RuntimeError, match="encoder.front_end.std"):
        build("ctc", norm, utterance_mean=True).load_state_dict(broken, strict=True)


def test_the_word_classifier_refuses_an_unknown_pool():
    with pytest.raises(ValueError, match="pool"):
        build("word", fit_normalizer(frames_of(0), utterance_mean=False), pool="sum")
