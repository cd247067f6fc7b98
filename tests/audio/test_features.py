"""rnnlab.audio.features: log-mel and MFCC frames of tones (the band a tone lights, the documented sizes), deltas,
the Sphinx-like front end, the training statistics (fit, JSON) and the spectrogram drawn for the studio."""
import json
import random

import numpy as np
import pytest

from rnnlab.audio.features import FeatureConfig, Normalizer, frames, spectrogram, with_deltas
from tiny_speech import RATE, tone_wave


def test_logmel_of_a_tone_peaks_in_its_band_and_frames_every_hop():
    cfg = FeatureConfig("logmel", RATE, n_mels=32, window_ms=25.0, hop_ms=10.0)
    t = np.arange(RATE // 2) / RATE  # 0.5 s
    low = frames((0.5 * np.sin(2 * np.pi * 400 * t)).astype(np.float32), cfg)
    high = frames((0.5 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32), cfg)
    assert low.shape == (1 + len(t) // 80, 32) and low.dtype == np.float32  # centred frames, 80-sample hop
    assert int(low.mean(0).argmax()) < int(high.mean(0).argmax())  # a higher tone lights a higher mel band
    assert np.isfinite(frames(np.zeros(800, np.float32), cfg)).all()  # silence: floored, never -inf


def test_mfcc_deltas_and_the_sphinx_front_end_have_the_documented_sizes():
    wave = tone_wave(["a", "b"], random.Random(0))
    assert frames(wave, FeatureConfig("mfcc", RATE, n_mfcc=13, deltas=2)).shape[1] == 39
    sphinx = FeatureConfig("sphinx_mfcc", 16000, n_mels=40, n_mfcc=13, f_min=130, f_max=6800)
    x = frames(np.interp(np.arange(2 * len(wave)) / 2, np.arange(len(wave)), wave).astype(np.float32), sphinx)
    assert x.shape == (1 + 2 * len(wave) // 160, 13) and np.isfinite(x).all()
    base = np.cumsum(np.ones((20, 3), np.float32), axis=0)  # a ramp: delta 1, delta-delta 0 inside
    d = with_deltas(base, 2)
    assert d.shape == (20, 9)
    np.testing.assert_allclose(d[8:12, 3:6], 1.0, atol=1e-5)
    np.testing.assert_allclose(d[8:12, 6:9], 0.0, atol=1e-5)
    assert with_deltas(base[:2], 1).shape == (2, 6)  # too short for a delta window: zeros, no error


def test_normalizer_fits_every_training_frame_and_round_trips_through_json():
    rng = np.random.default_rng(0)
    parts = [rng.normal(5.0, 3.0, (n, 4)).astype(np.float32) for n in (10, 50, 7)]
    norm = Normalizer.fit(parts)
    allx = np.concatenate(parts).astype(np.float64)
    np.testing.assert_allclose(norm.mean, allx.mean(0), rtol=1e-6)  # over frames, not per recording
    np.testing.assert_allclose(norm.std, allx.std(0), rtol=1e-5)
    assert norm.mean.dtype == norm.std.dtype == np.float32
    again = Normalizer.from_json(json.loads(json.dumps(norm.to_json())))
    assert np.array_equal(again.mean, norm.mean) and np.array_equal(again.std, norm.std)
    np.testing.assert_allclose(Normalizer.fit([np.ones((5, 2), np.float32)]).std, 1e-5)  # a constant: floored
    for bad in ({"mean": [0.0], "std": [0.0]}, {"mean": [0.0, 1.0], "std": [1.0]}, {"mean": [float("nan")],
                                                                                      "std": [1.0]}, []):
        with pytest.raises(ValueError):
            Normalizer.from_json(bad)
    with pytest.raises(ValueError, match="no frames"):
        Normalizer.fit([])


def test_the_spectrogram_is_a_picture_in_unit_range_one_column_a_hop():
    cfg = FeatureConfig("mfcc", RATE, n_mfcc=13, hop_ms=10.0)
    wave = tone_wave(["a", "c"], random.Random(1))
    picture = spectrogram(wave, cfg, mels=24)
    values = np.array(picture["values"])
    assert values.shape == (1 + len(wave) // 80, 24) and picture["mels"] == 24 and picture["frame_seconds"] == 0.01
    assert values.min() == 0.0 and values.max() == 1.0


def test_the_shortest_recording_is_one_analysis_window():
    assert FeatureConfig("logmel", 16000, window_ms=25.0).min_samples == 410  # Sphinx's 25.6 ms at the least
    assert FeatureConfig("logmel", 8000, window_ms=40.0).min_samples == 320
