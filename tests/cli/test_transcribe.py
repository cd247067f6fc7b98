"""`rnnlab transcribe`: tiny speech (CTC) and spoken_word bundles trained here on tone 'speech' (tests/tiny_speech.py),
a line per file, --json, --beam, one-line errors for unreadable files and other tasks' bundles, resampling; and
the same answers from the bundles' exports (`rnnlab export BUNDLE OUT`, in onnxruntime), every decode option too."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnlab.bundle import save_bundle
from rnnlab.cli import main
from rnnlab.config import config_from_dict
from rnnlab.metrics.speech import cer
from rnnlab.training import prepare_task, train
from same_predictions import assert_same_predictions  # noqa: E402
from tiny_speech import RATE, speech_config, tone_wave, write_speech_data


def _test_rows(data: Path) -> list[tuple[str, str]]:
    """(path, reference) of the tiny data's test manifest."""
    with open(data / "test.tsv", newline="") as f:
        return [(str(data / r["path"]), r["transcript"]) for r in csv.DictReader(f, delimiter="\t")]


@pytest.fixture(scope="module")
def speech(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("transcribe-speech")
    paths = write_speech_data(root / "data")
    train(speech_config(paths, root / "run"), echo=None, command="tests/cli/test_transcribe.py")
    return root / "data", root / "run" / "bundle"


@pytest.fixture(scope="module")
def spoken_word(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("transcribe-word")
    paths = write_speech_data(root / "data", sentences=False)
    train(speech_config(paths, root / "run", task="spoken_word"), echo=None, command="tests/cli/test_transcribe.py")
    return root / "data", root / "run" / "bundle"


@pytest.fixture(scope="module")
def intent_bundle(tmp_path_factory):
    """Another task's bundle, untrained (the refusal is all that is tested)."""
    run_dir = tmp_path_factory.mktemp("transcribe-intent") / "run"
    cfg = config_from_dict({"task": "intent", "run_dir": str(run_dir), "data": {},
                            "model": {"embed_size": 8, "hidden_size": 8}, "train": {"seed": 0}})
    task, _ = prepare_task(cfg)
    return save_bundle(run_dir / "bundle", task, task.build_model(), cfg, metrics={})


def _lines(capsys) -> list[list[str]]:
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_a_transcript_per_file(speech, capsys):
    data, bundle = speech
    rows = _test_rows(data)
    assert main(["transcribe", str(bundle), *[p for p, _ in rows]]) == 0
    out = _lines(capsys)
    assert [r[0] for r in out] == [p for p, _ in rows] and all(len(r) == 2 for r in out)
    hyps = [r[1] for r in out]
    assert all(h and set(h) <= set("abc ") for h in hyps), hyps
    # the tiny model hears the tones: the bundle's decoder (beam 4, lexicon and word LM) gets most of them
    assert cer([t for _, t in rows], hyps) < 0.5, list(zip(hyps, rows))
    assert sum(h == t for h, (_, t) in zip(hyps, rows)) >= len(rows) // 2


def test_greedy_transcripts_hear_the_tones(speech, capsys):
    """--beam 1 is greedy; the greedy symbols (spaces aside: the tiny model rarely emits one) match the reference."""
    data, bundle = speech
    rows = _test_rows(data)
    assert main(["transcribe", str(bundle), "--beam", "1", *[p for p, _ in rows]]) == 0
    greedy = [r[1] for r in _lines(capsys)]
    refs = [t.replace(" ", "") for _, t in rows]
    assert cer(refs, [g.replace(" ", "") for g in greedy]) < 0.3, list(zip(greedy, refs))


def test_json_has_posteriors_and_word_timings(speech, capsys):
    data, bundle = speech
    rows = _test_rows(data)[:4]
    assert main(["transcribe", str(bundle), "--json", *[p for p, _ in rows]]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["file"] for o in objs] == [p for p, _ in rows]
    for o in objs:
        assert set(o) == {"file", "transcript", "words", "decoder", "greedy", "symbols", "posteriors",
                          "frame_seconds", "seconds"}
        assert o["decoder"] == "beam" and o["symbols"][0] == "" and set(o["symbols"][1:]) == set(" abc")
        seconds = sf.info(o["file"]).duration
        assert o["seconds"] == pytest.approx(seconds, abs=1e-3)
        post = np.array(o["posteriors"])
        assert post.shape[1] == len(o["symbols"])
        assert post.shape[0] == pytest.approx(seconds / o["frame_seconds"], abs=2)  # one row per 10 ms step
        assert np.allclose(post.sum(1), 1.0, atol=1e-3)
        assert [w["word"] for w in o["words"]] == o["transcript"].split()
        for w in o["words"]:
            assert 0.0 <= w["start"] <= w["end"] <= o["seconds"] + o["frame_seconds"]


def test_beam_1_is_the_greedy_transcript(speech, capsys):
    data, bundle = speech
    files = [p for p, _ in _test_rows(data)]
    assert main(["transcribe", str(bundle), "--json", *files]) == 0
    greedy = [json.loads(line)["greedy"] for line in capsys.readouterr().out.splitlines()]
    assert main(["transcribe", str(bundle), *files, "--beam", "1", "--json"]) == 0  # flags after the files too
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(o["decoder"] == "greedy" for o in objs)
    assert [" ".join(o["transcript"].split()) for o in objs] == [" ".join(g.split()) for g in greedy]
    assert [o["greedy"] for o in objs] == greedy


def test_stereo_16k_to_an_8k_bundle_is_resampled(speech, tmp_path, capsys):
    data, bundle = speech
    path, reference = _test_rows(data)[0]
    mono, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    import soxr

    up = soxr.resample(mono, RATE, 16000)
    stereo = tmp_path / "stereo16k.wav"
    sf.write(stereo, np.stack([up, up], axis=1), 16000, subtype="PCM_16")
    assert main(["transcribe", str(bundle), path, str(stereo)]) == 0
    (_, original), (name, resampled) = _lines(capsys)
    assert name == str(stereo) and resampled == original


def test_a_word_and_its_probability(spoken_word, capsys):
    data, bundle = spoken_word
    rows = _test_rows(data)
    assert main(["transcribe", str(bundle), *[p for p, _ in rows]]) == 0
    out = _lines(capsys)
    assert [r[0] for r in out] == [p for p, _ in rows]
    words = []
    for _, shown in out:
        word, prob = shown.split(" ")
        assert prob.startswith("(") and prob.endswith("%)") and 0 < float(prob[1:-2]) <= 100
        words.append(word)
    assert sum(w == t for w, (_, t) in zip(words, rows)) >= 0.8 * len(rows)

    assert main(["transcribe", str(bundle), "--json", rows[0][0]]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj) == {"file", "word", "probability", "ranking", "seconds"}
    assert obj["word"] == words[0] and obj["ranking"][0] == {"label": obj["word"], "probability": obj["probability"]}
    assert sorted(r["label"] for r in obj["ranking"]) == ["a", "b", "c"]
    assert sum(r["probability"] for r in obj["ranking"]) == pytest.approx(1.0, abs=1e-3)


def test_beam_on_a_spoken_word_bundle_is_refused(spoken_word, capsys):
    data, bundle = spoken_word
    assert main(["transcribe", str(bundle), "--beam", "3", _test_rows(data)[0][0]]) == 1
    err = capsys.readouterr()
    assert err.out == "" and len(err.err.strip().splitlines()) == 1
    assert "--beam is for speech (CTC) bundles" in err.err


def test_beam_below_1_is_refused(speech, capsys):
    data, bundle = speech
    assert main(["transcribe", str(bundle), "--beam", "0", _test_rows(data)[0][0]]) == 1
    assert "--beam: must be >= 1" in capsys.readouterr().err


def test_another_tasks_bundle_is_refused(intent_bundle, tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_wave(["a"], random.Random(0)), RATE)
    assert main(["transcribe", str(intent_bundle), str(wav)]) == 1
    err = capsys.readouterr()
    assert err.out == "" and len(err.err.strip().splitlines()) == 1
    assert "task 'intent' is not a speech model" in err.err and "speech or spoken_word bundle" in err.err


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "directory"])
def test_one_bad_file_is_one_line_and_nothing_printed(speech, tmp_path, capsys, kind):
    data, bundle = speech
    good = _test_rows(data)[0][0]
    bad = tmp_path / "x.wav"
    if kind == "text":
        bad.write_text("this is not audio\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "directory":
        bad.mkdir()
    assert main(["transcribe", str(bundle), good, str(bad), good]) == 1
    out = capsys.readouterr()
    assert out.out == ""  # the good file before the bad one was not printed either
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in out.err, out.err
    assert lines[0].startswith("rnnlab transcribe: error: ")


def test_predict_reads_a_wav_too(speech, spoken_word, capsys):
    data, bundle = speech
    path = _test_rows(data)[0][0]
    assert main(["transcribe", str(bundle), path]) == 0
    transcribed = capsys.readouterr().out
    assert main(["predict", str(bundle), path]) == 0
    assert capsys.readouterr().out == transcribed
    data, bundle = spoken_word
    path = _test_rows(data)[0][0]
    assert main(["predict", str(bundle), "--json", path]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["task"] == "spoken_word" and pred["text"] == path and pred["answer_kind"] == "word"


# ---- an export directory (rnnlab export BUNDLE OUT): its graphs in onnxruntime, the bundle's decoding ------------

def _export(bundle: Path, out: Path) -> Path:
    from rnnlab.export import export_bundle

    export_bundle(bundle, out)
    return out


@pytest.fixture(scope="module")
def speech_export(speech, tmp_path_factory) -> Path:
    return _export(speech[1], tmp_path_factory.mktemp("transcribe-export") / "speech")


@pytest.fixture(scope="module")
def spoken_word_export(spoken_word, tmp_path_factory) -> Path:
    return _export(spoken_word[1], tmp_path_factory.mktemp("transcribe-export") / "spoken_word")


def _json_lines(capsys, argv: list[str]) -> list[dict]:
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("beam", [None, "1", "3"])
def test_an_export_transcribes_as_its_bundle(speech, speech_export, capsys, beam):
    """`rnnlab transcribe OUT` (onnxruntime) against `rnnlab transcribe BUNDLE` (PyTorch): the same transcripts,
    word timings, greedy transcript and posteriors, under the bundle's beam (4), greedy (--beam 1) and --beam 3."""
    data, bundle = speech
    files = [p for p, _ in _test_rows(data)]
    flags = [] if beam is None else ["--beam", beam]
    want = _json_lines(capsys, ["transcribe", str(bundle), "--json", *files, *flags])
    got = _json_lines(capsys, ["transcribe", str(speech_export), "--runtime", "onnx", "--json", *files, *flags])
    assert_same_predictions(got, want)
    assert {o["decoder"] for o in got} == {"greedy" if beam == "1" else "beam"}  # the option reached the decoder
    # the lines a user reads: identical
    assert main(["transcribe", str(bundle), *files, *flags]) == 0
    lines = capsys.readouterr().out
    assert main(["transcribe", str(speech_export), *files, *flags]) == 0
    assert capsys.readouterr().out == lines


def test_predict_on_an_export_takes_every_decode_option(speech, speech_export, capsys):
    """`rnnlab predict OUT a.wav --option ...`: the beam, the LM's weight and the word bonus reach the export's
    decoding as they reach the bundle's; the whole prediction is the bundle's (nothing of it needs PyTorch)."""
    data, bundle = speech
    files = [p for p, _ in _test_rows(data)]
    for options in (["beam=3", "lm_weight=2.5", "word_bonus=-0.5"], ["beam=2", "lm_weight=0", "word_bonus=3"]):
        flags = [f for o in options for f in ("--option", o)]
        want = _json_lines(capsys, ["predict", str(bundle), "--json", *files, *flags])
        got = _json_lines(capsys, ["predict", str(speech_export), "--json", *files, *flags])
        assert_same_predictions(got, want)
        assert set(got[0]) == set(want[0]) and got[0]["audio"]["decoder"] == "beam"


def test_a_spoken_word_export_hears_the_bundles_words(spoken_word, spoken_word_export, capsys):
    data, bundle = spoken_word
    files = [p for p, _ in _test_rows(data)]
    want = _json_lines(capsys, ["transcribe", str(bundle), "--json", *files])
    got = _json_lines(capsys, ["transcribe", str(spoken_word_export), "--json", *files])
    assert_same_predictions(got, want)
    want = _json_lines(capsys, ["predict", str(bundle), "--json", *files])
    got = _json_lines(capsys, ["predict", str(spoken_word_export), "--runtime", "onnx", "--json", *files])
    assert_same_predictions(got, want)
    assert all(p["answer_kind"] == "word" and "influence" not in p for p in got)
