"""The speech tasks (spoken_word, speech/CTC) wired end to end on tone 'speech' the tests write
(tests/tiny_speech.py) and, where present, the real FSDD / AN4; a bundle saved before the front end moved into
the model still loads and answers the same. The building blocks have their own tests (tests/audio/,
tests/readers/test_speech_readers.py, tests/decoding/test_ctc.py)."""
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import rnnlab
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.metrics.speech import cer
from rnnlab.readers.speech import SpeechExample
from rnnlab.tasks.speech import SpeechData, SpeechModelConfig, SpeechTask
from rnnlab.training import prepare_task, train
from tiny_speech import RATE, TONES, speech_config, tone_wave, write_speech_data

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RNNLAB_DATA", ROOT.parent / "shared" / "data"))
needs_fsdd = pytest.mark.skipif(not (DATA / "fsdd" / "recordings").is_dir(),
                                reason=f"FSDD not found under {DATA} (set RNNLAB_DATA)")
needs_an4 = pytest.mark.skipif(not (DATA / "an4" / "etc").is_dir(), reason=f"AN4 not found under {DATA}")


# ---- config checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("data, model, words", [
    ({"format": "wav"}, {}, "data.format"),
    ({"format": "an4"}, {"features": "logmel"}, "sphinx_mfcc"),
    ({}, {"features": "fbank"}, "features"),
    ({}, {"pool": "sum"}, "model.pool"),
    ({}, {"deltas": 3}, "deltas"),
    ({"valid_fraction": 1.0}, {}, "valid_fraction"),
    ({}, {"eval_decoder": "viterbi"}, "eval_decoder"),
    # a key the chosen format does not read: refused, not silently ignored
    ({"format": "fsdd_strings", "train": "my.tsv"}, {}, "data.train = 'my.tsv' is set, but data.format = fsdd_strings"),
    ({"format": "an4", "test": "t.tsv"}, {"features": "sphinx_mfcc"}, "data.test .*only data.format = manifest"),
    ({"train": "a.tsv", "room_tone": False}, {}, "data.room_tone = False .* data.format = fsdd_strings"),
    ({"format": "fsdd", "min_digits": 3}, {}, "data.min_digits"),
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


def test_the_decode_options_reach_the_decoder_through_predict(ctc_run):
    folder, paths, _, predictor = ctc_run
    task = predictor.task
    assert [o.name for o in task.options] == ["beam", "lm_weight", "word_bonus"]
    files = [str(folder / line.split("\t")[0]) for line in Path(paths["test"]).read_text().splitlines()[1:4]]
    options = task.check_options({"beam": "3", "lm_weight": "0", "word_bonus": "2.5"})  # as the CLI passes them
    assert options == {"beam": 3, "lm_weight": 0.0, "word_bonus": 2.5}
    preds = predictor.predict(files, **options)
    settings = task.decoder_options(beam=3, lm_weight=0.0, word_bonus=2.5)
    with torch.no_grad():
        for f, p in zip(files, preds):
            batch = task.collate([{"frames": task._input_frames([f])[1][0], "targets": [1], "transcript": ""}])
            assert " ".join(p["sequence"]) == task.decode(task.log_probs(predictor.model, [batch])[0], settings)
    with pytest.raises(UserError, match="beam"):
        task.check_options({"beam": "0"})


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


def test_concatenation_joins_each_utterance_to_another_of_its_batch(ctc_run):
    folder, paths, _, _ = ctc_run
    cfg = speech_config(paths, folder / "run3")
    task, feats = prepare_task(cfg)
    batch = task.collate(feats["train"][:4])
    assert task.concat_pairs(batch) is batch  # model.concat_prob = 0: off
    task.model_config.concat_prob = 1.0
    torch.manual_seed(0)
    out = task.concat_pairs(batch)
    space = task.symbols.stoi[" "]
    for b in range(4):
        n, k = int(batch["lengths"][b]), int(batch["target_lengths"][b])
        own_x, own_t = batch["frames"][b, :n], batch["targets"][b, :k].tolist()
        partners = [j for j in range(4) if j != b
                    and int(out["lengths"][b]) == n + int(batch["lengths"][j])
                    and out["targets"][b, : int(out["target_lengths"][b])].tolist()
                    == own_t + [space] + batch["targets"][j, : int(batch["target_lengths"][j])].tolist()
                    and torch.equal(out["frames"][b, n: n + int(batch["lengths"][j])],
                                    batch["frames"][j, : int(batch["lengths"][j])])]
        assert partners and torch.equal(out["frames"][b, :n], own_x)  # itself, then another utterance
        assert torch.all(out["frames"][b, int(out["lengths"][b]):] == 0)
    # the loss joins only while training: evaluation reads the utterances as they are
    model = task.build_model()
    model.train()
    joined = task.loss(model, batch).count
    model.eval()
    assert task.loss(model, batch).count == sum(len(f["targets"]) for f in feats["train"][:4]) < joined


def test_a_small_set_is_trained_on_joined_pairs_and_the_config_records_it(ctc_run):
    folder, paths, summary, predictor = ctc_run
    assert summary["adapted"]["model.concat_prob"] == [0.0, 0.5]  # tens of tone utterances: a small set
    saved = json.loads((folder / "run" / "config.json").read_text())
    assert saved["model"]["concat_prob"] == predictor.config.model.concat_prob == 0.5
    task = SpeechTask(SpeechData(), SpeechModelConfig())
    assert task.adapt(27) == {"concat_prob": 0.5} and task.adapt(4000) == {}  # the benchmark keeps its recipe
    assert SpeechTask(SpeechData(), SpeechModelConfig(concat_prob=0.8)).adapt(27) == {}  # never less than asked


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


def test_the_bundle_carries_the_front_end_statistics_in_its_weights(ctc_run):
    """The normaliser travels in model.safetensors as the front end's buffers, so the weights alone, loaded into a
    model built with other statistics, answer as the bundle does."""
    from safetensors.torch import load_file

    folder, _, _, predictor = ctc_run
    bundle = folder / "run" / "bundle"
    weights = load_file(bundle / "model.safetensors")
    saved = json.loads((bundle / "normalizer.json").read_text())
    assert weights["encoder.front_end.mean"].tolist() == torch.tensor(saved["mean"], dtype=torch.float32).tolist()
    assert weights["encoder.front_end.std"].tolist() == torch.tensor(saved["std"], dtype=torch.float32).tolist()
    task = SpeechTask(predictor.task.data, predictor.task.model_config)
    task.state_from_json({**json.loads(json.dumps(predictor.task.state_to_json())),
                          "normalizer": {"mean": [0.0] * 16, "std": [1.0] * 16}})
    alone = task.build_model()
    alone.load_state_dict(weights, strict=True)
    wav = str(folder / "wavs" / "test_0.wav")
    assert predictor.task.predict(alone.eval(), [wav]) == predictor.predict([wav])


def test_a_bundle_saved_before_the_front_end_moved_into_the_model_loads_and_answers_the_same():
    """tests/data/speech_bundle_before_frontend: a tiny CTC bundle (utterance_mean, subsample 2) saved by the code
    before the front end was a module, its statistics only in normalizer.json; beside it, frames and the
    log-probabilities that code's model gave for them. rnnlab.load loads the weights strictly (the missing
    buffers come from normalizer.json) and the model, now reading raw frames, gives the same numbers."""
    data = Path(__file__).resolve().parents[1] / "data"
    predictor = rnnlab.load(data / "speech_bundle_before_frontend")
    task, model = predictor.task, predictor.model
    assert task.model_config.utterance_mean and task.model_config.subsample == 2
    assert model.encoder.front_end.mean.tolist() == torch.tensor(task.normalizer.mean).tolist()
    cases = json.loads((data / "speech_bundle_before_frontend.json").read_text())["cases"]
    for case in cases:
        batch = task.collate([{"frames": np.array(case["frames"], np.float32), "targets": [1]}])
        with torch.no_grad():
            log_probs = task.log_probs(model, [batch])[0]
        torch.testing.assert_close(torch.from_numpy(log_probs), torch.tensor(case["log_probs"]))


def test_spoken_word_classifier_learns_the_tones_and_refuses_unseen_classes(tmp_path):
    torch.set_num_threads(1)
    paths = write_speech_data(tmp_path, sentences=False)
    summary = train(speech_config(paths, tmp_path / "run", task="spoken_word", train={"epochs": 15}), echo=None)
    assert summary["test"]["accuracy"] >= 0.9
    predictor = rnnlab.load(tmp_path / "run" / "bundle")
    task = predictor.task
    assert task.classes == sorted(TONES)
    # a test file whose word training never saw: the model has no output for it, so it is refused, not scored
    wav = tmp_path / "x.wav"
    sf.write(wav, tone_wave(["a"], random.Random(1)), RATE)
    with pytest.raises(UserError, match=r"x: label 'zebra' is not one the model knows .*'a', 'b', 'c'"):
        task.encode(SpeechExample("x", "zebra", audio=wav))
    assert task.encode(SpeechExample("y", "a", audio=wav))["label"] == 0


def test_the_lexicon_and_the_word_lm_are_built_from_the_training_transcripts_only(tmp_path):
    """Words that only validation or test transcripts have ("cab", "bac": the training words' letters, which
    the model's alphabet holds) must not reach the lexicon or the n-gram: an LM that had seen test sentences
    would make the with-LM figures a leak."""
    torch.set_num_threads(1)
    paths = write_speech_data(tmp_path, n=12)
    train_rows = Path(paths["train"]).read_text().splitlines()[1:]
    for split, extra in (("valid", "cab"), ("test", "bac")):
        rows = [f"{row}\t{words} {extra}" for row, words in (r.split("\t") for r in train_rows[:4])]
        (tmp_path / f"{split}.tsv").write_text("path\ttranscript\n" + "\n".join(rows) + "\n")
    paths = {**paths, "valid": str(tmp_path / "valid.tsv"), "test": str(tmp_path / "test.tsv")}
    cfg = speech_config(paths, tmp_path / "run", data={"valid": paths["valid"]}, train={"epochs": 1})
    task, _ = prepare_task(cfg)
    assert {e.transcript.split()[-1] for e in task.read("valid")} == {"cab"}  # the words are in those splits
    assert {e.transcript.split()[-1] for e in task.read("test")} == {"bac"}
    train(cfg, echo=None)
    for built in (task, rnnlab.load(tmp_path / "run" / "bundle").task):  # as fitted, and as the bundle keeps it
        assert built.words == ["a", "b", "c"] and built.lm.vocabulary() == ["a", "b", "c"]
        grams = [gram for table in built.lm.to_json()["counts"] for gram, _ in table]
        assert grams and not any({"cab", "bac"} & set(gram) for gram in grams)


def test_a_manifest_row_whose_file_is_not_audio_is_named_by_line_and_file(tmp_path):
    paths = write_speech_data(tmp_path, n=8)
    (tmp_path / "wavs" / "train_3.wav").write_text("not a recording")
    with pytest.raises(UserError) as e:
        prepare_task(speech_config(paths, tmp_path / "run"))
    message = str(e.value)
    assert "train.tsv:5" in message and "train_3.wav" in message and "not an audio file" in message
    assert "\n" not in message


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
