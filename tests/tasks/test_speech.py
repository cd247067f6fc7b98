"""The speech tasks (spoken_word, speech/CTC) and their audio building blocks (features, SpecAugment, digit
strings), on tone 'speech' the tests write (tests/tiny_speech.py) and, where present, the real FSDD / AN4."""
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import rnnlab
from rnnlab.audio.augment import spec_augment
from rnnlab.audio.features import FeatureConfig, Normalizer, frames, with_deltas
from rnnlab.audio.strings import draw_strings, join
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.metrics.speech import cer
from rnnlab.tasks.speech import SpeechData, SpeechModelConfig, SpeechTask, SpokenWordTask, stack_frames
from rnnlab.training import prepare_task, train
from tiny_speech import RATE, TONES, speech_config, tone_wave, write_speech_data

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RNNLAB_DATA", ROOT.parent / "shared" / "data"))
needs_fsdd = pytest.mark.skipif(not (DATA / "fsdd" / "recordings").is_dir(),
                                reason=f"FSDD not found under {DATA} (set RNNLAB_DATA)")
needs_an4 = pytest.mark.skipif(not (DATA / "an4" / "etc").is_dir(), reason=f"AN4 not found under {DATA}")


# ---- building blocks ------------------------------------------------------------------------------

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


def test_normalizer_standardises_the_training_frames_and_round_trips():
    rng = np.random.default_rng(0)
    parts = [rng.normal(5.0, 3.0, (n, 4)).astype(np.float32) for n in (10, 50, 7)]
    norm = Normalizer.fit(parts)
    allx = norm(np.concatenate(parts))
    np.testing.assert_allclose(allx.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(allx.std(0), 1.0, atol=1e-4)
    again = Normalizer.from_json(json.loads(json.dumps(norm.to_json())))
    np.testing.assert_allclose(again(parts[0]), norm(parts[0]), atol=1e-6)
    for bad in ({"mean": [0.0], "std": [0.0]}, {"mean": [0.0, 1.0], "std": [1.0]}, {"mean": [float("nan")],
                                                                                      "std": [1.0]}, []):
        with pytest.raises(ValueError):
            Normalizer.from_json(bad)
    with pytest.raises(ValueError):
        norm(np.zeros((3, 5), np.float32))


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


def test_stack_frames_concatenates_k_frames_and_rounds_lengths_up():
    x = torch.arange(2 * 7 * 2, dtype=torch.float32).view(2, 7, 2)
    out, lengths = stack_frames(x, torch.tensor([7, 4]), 3)
    assert out.shape == (2, 3, 6) and lengths.tolist() == [3, 2]
    assert out[0, 0].tolist() == x[0, :3].reshape(-1).tolist() and out[0, 2, 2:].abs().sum() == 0  # zero pad


def test_digit_strings_are_fixed_by_the_seed_and_join_with_their_gaps():
    a = draw_strings(200, 30, min_digits=2, max_digits=7, gap_min=0.05, gap_max=0.3, seed=1)
    assert a == draw_strings(200, 30, min_digits=2, max_digits=7, gap_min=0.05, gap_max=0.3, seed=1)
    assert {len(s.parts) for s in a} == set(range(2, 8))
    assert all(len(set(s.parts)) == len(s.parts) and len(s.gaps) == len(s.parts) + 1 for s in a)
    assert all(0.05 <= g <= 0.3 for s in a for g in s.gaps)
    recs = [np.ones(100 * (i + 1), np.float32) for i in range(30)]
    wave = join(recs, a[0], 1000)
    assert len(wave) == sum(100 * (i + 1) for i in a[0].parts) + sum(round(g * 1000) for g in a[0].gaps)
    assert wave.sum() == sum(100 * (i + 1) for i in a[0].parts)  # silence between
    quiet = [np.full(400, 0.01, np.float32) if i % 2 else np.full(400, 0.1, np.float32) for i in range(30)]
    toned = join(quiet, a[0], 1000, np.random.default_rng(0))  # room tone: noise at the edges' level
    first_gap = toned[: round(a[0].gaps[0] * 1000)]
    level = 0.01 if a[0].parts[0] % 2 else 0.1
    assert len(toned) == len(wave) - sum(100 * (i + 1) for i in a[0].parts) + 400 * len(a[0].parts)
    assert 0.5 * level < float(np.sqrt(np.mean(first_gap ** 2))) < 1.5 * level
    with pytest.raises(ValueError):
        draw_strings(5, 3, max_digits=7)


# ---- config checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("data, model, words", [
    ({"format": "wav"}, {}, "data.format"),
    ({"format": "an4"}, {"features": "logmel"}, "sphinx_mfcc"),
    ({}, {"features": "fbank"}, "features"),
    ({}, {"pool": "sum"}, "model.pool"),
    ({}, {"deltas": 3}, "deltas"),
    ({"valid_fraction": 1.0}, {}, "valid_fraction"),
    ({}, {"eval_decoder": "viterbi"}, "eval_decoder"),
])
def test_bad_settings_are_one_line_user_errors(data, model, words):
    with pytest.raises(UserError, match=words):
        SpeechTask(SpeechData(**data), SpeechModelConfig(**model))


# ---- the tasks on tone speech ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctc_run(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("ctc")
    paths = write_speech_data(folder)
    summary = train(speech_config(paths, folder / "run", model={"eval_decoder": "beam"}, train={"epochs": 30}),
                    echo=None)
    return folder, paths, summary, rnnlab.load(folder / "run" / "bundle")


def test_ctc_model_learns_the_tone_words(ctc_run):
    _, _, summary, _ = ctc_run
    assert summary["test"]["cer"] < 0.5 and summary["test"]["beam_cer"] < 0.5  # chance is ~1
    assert {"wer", "sentence_accuracy", "beam_wer", "loss"} <= set(summary["test"])


def test_ctc_predictions_follow_the_audio_and_a_resampled_stereo_file_reads_the_same(ctc_run, tmp_path):
    folder, paths, _, predictor = ctc_run
    rows = [line.split("\t") for line in Path(paths["test"]).read_text().splitlines()[1:]]
    preds = predictor.predict([str(folder / r[0]) for r in rows])
    hyps = [" ".join(p["sequence"]) for p in preds]
    assert cer([r[1] for r in rows], hyps) < 0.5
    p = preds[0]
    n = p["audio"]["steps"]
    assert len(p["tokens"]) == n == len(p["audio"]["posteriors"]) == len(p["audio"]["best_path"])
    assert all(abs(sum(row) - 1.0) < 1e-3 for row in p["audio"]["posteriors"])
    assert p["audio"]["symbols"][0] == "" and set(p["audio"]["symbols"][1:]) == {" ", "a", "b", "c"}
    for w in p["audio"]["words"]:
        assert 0 <= w["start"] <= w["end"] <= p["audio"]["seconds"] + 0.05
    # the same recording at 16 kHz, stereo: resampled and averaged to what the model was trained on
    wave, rate = sf.read(folder / rows[0][0], dtype="float32")
    up = np.interp(np.arange(2 * len(wave)) / 2, np.arange(len(wave)), wave).astype(np.float32)
    sf.write(tmp_path / "s.wav", np.stack([up, up], 1), 2 * rate, subtype="FLOAT")
    back = predictor.task.parse_input(str(tmp_path / "s.wav"))
    assert back.sample_rate == RATE and abs(len(back.samples) - len(wave)) <= 1
    assert np.corrcoef(back.samples[: len(wave)], wave[: len(back.samples)])[0, 1] > 0.99
    again = predictor.predict([back])[0]
    assert again["audio"]["steps"] == n and len(again["tokens"]) == n
    with pytest.raises(UserError, match="too short"):
        from rnnlab.readers.audio import Audio

        predictor.predict([Audio(np.zeros(20, np.float32), RATE, "tiny.wav")])


def test_beam_of_one_is_greedy_and_the_lexicon_keeps_to_training_words(ctc_run):
    folder, paths, _, predictor = ctc_run
    task, model = predictor.task, predictor.model
    files = [str(folder / line.split("\t")[0]) for line in Path(paths["test"]).read_text().splitlines()[1:]]
    greedy = task.predict(model, files, beam=1)
    assert all(p["audio"]["decoder"] == "greedy" and " ".join(p["sequence"]) == p["audio"]["greedy"]
               for p in greedy)
    beam = task.predict(model, files)
    assert all(w in task.words for p in beam for w in p["sequence"])
    assert set(task.words) == {"a", "b", "c"}


def test_ctc_loss_counts_characters_and_its_gradient_is_finite(ctc_run):
    folder, paths, _, _ = ctc_run
    cfg = speech_config(paths, folder / "run2")
    task, feats = prepare_task(cfg)
    model = task.build_model()
    batch = task.collate(feats["train"][:4])
    out = task.loss(model, batch)
    assert out.count == sum(len(f["targets"]) for f in feats["train"][:4])
    (out.total / out.count).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_bundle_with_a_malformed_state_is_refused(ctc_run):
    _, _, _, predictor = ctc_run
    task = predictor.task
    state = json.loads(json.dumps(task.state_to_json()))
    other = SpeechTask(task.data, task.model_config)
    bad = dict(state, **{"vocab.symbols": {**state["vocab.symbols"], "pad": "x"}})
    for broken in (dict(state, normalizer={"mean": [0.0], "std": [1.0]}), bad,
                   {k: v for k, v in state.items() if k != "normalizer"}):
        with pytest.raises((ValueError, KeyError)):
            other.state_from_json(broken)


def test_spoken_word_classifier_learns_the_tones_and_counts_unseen_classes_wrong(tmp_path):
    torch.set_num_threads(1)
    paths = write_speech_data(tmp_path, sentences=False)
    summary = train(speech_config(paths, tmp_path / "run", task="spoken_word", train={"epochs": 15}), echo=None)
    assert summary["test"]["accuracy"] >= 0.9
    predictor = rnnlab.load(tmp_path / "run" / "bundle")
    task = predictor.task
    assert task.classes == sorted(TONES)
    # a test file whose word training never saw: encoded as -1, scored as an error
    from rnnlab.tasks.speech import SpeechExample

    wav = tmp_path / "x.wav"
    sf.write(wav, tone_wave(["a"], random.Random(1)), RATE)
    feats = [task.encode(SpeechExample("x", "zebra", audio=wav)), task.encode(SpeechExample("y", "a", audio=wav))]
    metrics = task.evaluate(predictor.model.eval(), [task.collate(feats)])
    assert feats[0]["label"] == -1 and metrics["accuracy"] <= 0.5


def test_the_lexicon_and_the_word_lm_are_built_from_the_training_transcripts_only(tmp_path):
    """Words that only validation or test transcripts have ("zebra", "quux") must not reach the lexicon or
    the n-gram: an LM that had seen test sentences would make the with-LM figures a leak."""
    torch.set_num_threads(1)
    paths = write_speech_data(tmp_path, n=12)
    train_rows = Path(paths["train"]).read_text().splitlines()[1:]
    for split, extra in (("valid", "zebra"), ("test", "quux")):
        rows = [f"{row}\t{words} {extra}" for row, words in (r.split("\t") for r in train_rows[:4])]
        (tmp_path / f"{split}.tsv").write_text("path\ttranscript\n" + "\n".join(rows) + "\n")
    paths = {**paths, "valid": str(tmp_path / "valid.tsv"), "test": str(tmp_path / "test.tsv")}
    cfg = speech_config(paths, tmp_path / "run", data={"valid": paths["valid"]}, train={"epochs": 1})
    task, _ = prepare_task(cfg)
    assert {e.transcript.split()[-1] for e in task.read("valid")} == {"zebra"}  # the words are in those splits
    assert {e.transcript.split()[-1] for e in task.read("test")} == {"quux"}
    train(cfg, echo=None)
    for built in (task, rnnlab.load(tmp_path / "run" / "bundle").task):  # as fitted, and as the bundle keeps it
        assert built.words == ["a", "b", "c"] and built.lm.vocabulary() == ["a", "b", "c"]
        grams = [gram for table in built.lm.to_json()["counts"] for gram, _ in table]
        assert grams and not any({"zebra", "quux"} & set(gram) for gram in grams)
        assert not {"z", "q"} & set(built.symbols.itos)  # their letters are not even symbols


def test_a_manifest_row_whose_file_is_not_audio_is_named_by_line_and_file(tmp_path):
    paths = write_speech_data(tmp_path, n=8)
    (tmp_path / "wavs" / "train_3.wav").write_text("not a recording")
    with pytest.raises(UserError) as e:
        prepare_task(speech_config(paths, tmp_path / "run"))
    message = str(e.value)
    assert "train.tsv:5" in message and "train_3.wav" in message and "not an audio file" in message
    assert "\n" not in message


def test_utterance_mean_makes_the_frames_blind_to_the_recording_level(tmp_path):
    from rnnlab.readers.audio import Audio

    wave = tone_wave(["a", "c"], random.Random(2))
    loud, quiet = Audio(wave, RATE, "loud"), Audio(0.05 * wave, RATE, "quiet")
    model = SpeechModelConfig(features="logmel", sample_rate=RATE, n_mels=16, utterance_mean=True)
    task = SpokenWordTask(SpeechData(), model)
    task.normalizer = Normalizer(np.zeros(16), np.ones(16))
    _, (a, b) = task._input_frames([loud, quiet])
    np.testing.assert_allclose(a, b, atol=1e-3)  # log-mel: a gain is a constant, taken away with the mean
    task.model_config = SpeechModelConfig(features="logmel", sample_rate=RATE, n_mels=16)
    _, (a, b) = task._input_frames([loud, quiet])
    assert np.abs(a - b).mean() > 1.0  # without it, the level shows in every frame


# ---- the real datasets' splits --------------------------------------------------------------------

def _task(config: str, *overrides: str):
    root = DATA / ("an4" if config == "an4.toml" else "fsdd/recordings")  # the configs' $RNNLAB_DATA paths
    cfg = load_config(ROOT / "configs" / config, [f"data.root={root}", *overrides])
    from rnnlab.tasks import get_task_class

    return get_task_class(cfg.task)(cfg.data, cfg.model)


@needs_fsdd
def test_fsdd_official_and_speaker_splits():
    task = _task("fsdd.toml")
    train_, valid, test = (task.read(s) for s in ("train", "valid", "test"))
    assert (len(train_), len(valid), len(test)) == (2430, 270, 300)
    assert all(int(e.name.split("_")[2][:-4]) < 5 for e in test)
    assert not {e.name for e in train_} & {e.name for e in valid + test}
    held = _task("fsdd.toml", "data.test_speaker=theo")
    test = held.read("test")
    assert len(test) == 500 and {e.speaker for e in test} == {"theo"}
    assert "theo" not in {e.speaker for e in held.read("train") + held.read("valid")}
    with pytest.raises(UserError, match="not among"):
        _task("fsdd.toml", "data.test_speaker=nobody").read("test")


@needs_fsdd
def test_connected_digit_strings_never_mix_the_splits():
    task = _task("digits.toml", "data.strings_train=300", "data.strings_valid=50", "data.strings_test=100")
    parts = {s: {p.name for e in task.read(s) for p in e.parts[0]} for s in ("train", "valid", "test")}
    assert all(int(n.split("_")[2][:-4]) < 5 for n in parts["test"])
    assert all(int(n.split("_")[2][:-4]) >= 5 for n in parts["train"] | parts["valid"])
    assert not parts["train"] & parts["valid"]
    test = task.read("test")
    assert len(test) == 100 and all(2 <= len(e.transcript.split()) <= 7 for e in test)
    assert [e.transcript for e in test] == [e.transcript for e in task.read("test")]  # fixed by the seed


@needs_an4
def test_an4_reads_the_sphinx_features_with_deltas():
    task = _task("an4.toml")
    train_, valid, test = (task.read(s) for s in ("train", "valid", "test"))
    assert (len(train_) + len(valid), len(test)) == (948, 130) and len(valid) == 47
    task.fit(train_[:20])
    f = task.encode(test[0])
    assert f["frames"].shape[1] == 39 and task.symbols.itos[0] == "<blank>"
    assert test[0].transcript == "RUBOUT G M E F THREE NINE"
