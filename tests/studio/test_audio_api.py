"""The studio's POST /audio (no browser): a recording's bytes in, the trace of a speech or spoken_word bundle out
(spectrogram, CTC posteriors, word timings), and the errors: not audio, too large, too long, a text model."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

import rnnlab
from rnnlab.studio.server import Limits, create_app
from rnnlab.tasks.base import check_prediction
from tiny_speech import RATE, tone_wave


def local(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def speech(speech_data):
    data, bundle = speech_data
    with local(create_app(bundle)) as c:
        yield c, data, rnnlab.load(bundle)


def _upload(client, data: bytes, name: str = "mine.wav", content_type: str = "audio/wav"):
    return client.post("/audio", params={"name": name}, content=data, headers={"Content-Type": content_type})


def test_card_says_audio(speech):
    client, _, _ = speech
    card = client.get("/model").json()
    assert card["input"] == "audio" and card["task"] == "speech" and card["can_trace"] is True
    assert card["limits"]["max_audio_bytes"] == 20 * 1024 * 1024
    paths = client.get("/openapi.json").json()["paths"]
    assert "/upload" in paths and "/audio" in paths  # one endpoint, under its first name too


def test_upload_gives_the_trace(speech):
    client, data, predictor = speech
    wav = data / "wavs" / "test_0.wav"
    r = _upload(client, wav.read_bytes(), content_type="application/octet-stream")
    assert r.status_code == 200, r.text
    pred = r.json()
    check_prediction(pred)
    want = predictor.task.predict(predictor.model, [predictor.task.parse_input(str(wav))])[0]
    assert pred["text"] == "mine.wav" and pred["sequence"] == want["sequence"]
    a = pred["audio"]
    assert np.allclose(a["posteriors"], want["audio"]["posteriors"]) and a["words"] == want["audio"]["words"]
    spec = np.array(a["spectrogram"]["values"])
    assert spec.shape[1] == a["spectrogram"]["mels"] and 0.0 <= spec.min() and spec.max() <= 1.0
    assert spec.shape[0] * a["spectrogram"]["frame_seconds"] == pytest.approx(a["seconds"], abs=0.05)
    assert len(a["posteriors"]) == a["steps"]


def test_a_16k_stereo_flac_is_resampled(speech):
    client, data, _ = speech
    mono, _ = sf.read(data / "wavs" / "test_0.wav", dtype="float32")
    import soxr

    up = soxr.resample(mono, RATE, 16000)
    buf = io.BytesIO()
    sf.write(buf, np.stack([up, up], axis=1), 16000, format="FLAC")
    r = _upload(client, buf.getvalue(), "take.flac", "audio/flac")
    assert r.status_code == 200, r.text
    want = _upload(client, (data / "wavs" / "test_0.wav").read_bytes()).json()
    assert r.json()["sequence"] == want["sequence"]


@pytest.mark.parametrize("body, problem", [(b"this is not audio\n", "not an audio file"),
                                           (b"RIFF\x00\x00\x00\x00WAVE", "not an audio file"),
                                           (b"", "empty upload")])
def test_not_audio_is_a_one_line_4xx_naming_the_upload(speech, body, problem):
    client, _, _ = speech
    r = _upload(client, body, "notes.wav")
    assert 400 <= r.status_code < 500
    message = r.json()["error"]
    assert message.startswith("notes.wav: ") and problem in message and "\n" not in message


def test_upload_name_is_its_last_part(speech):
    client, data, _ = speech
    r = _upload(client, (data / "wavs" / "test_1.wav").read_bytes(), "C:\\Users\\ana\\take 1.wav")
    assert r.status_code == 200 and r.json()["text"] == "take 1.wav"


def test_too_large_is_413(speech_data):
    _, bundle = speech_data
    with local(create_app(bundle, Limits(max_audio_bytes=4096))) as c:
        wav = (speech_data[0] / "wavs" / "test_0.wav").read_bytes()
        assert len(wav) > 4096
        r = _upload(c, wav)
        assert r.status_code == 413 and "the limit is 4096 bytes" in r.json()["error"]

        def chunks():  # no Content-Length: the limit still holds while the body streams in
            for i in range(0, len(wav), 1000):
                yield wav[i:i + 1000]

        r = c.post("/audio", content=chunks(), headers={"Content-Type": "audio/wav"})
        assert r.status_code == 413
        # the JSON endpoints keep their own (small) limit
        assert c.post("/predict", json={"text": "x" * 20000}).status_code == 413


def test_a_10_second_16k_recording_fits_the_default_limits(speech):
    client, _, _ = speech
    rng = random.Random(1)
    wave = np.concatenate([tone_wave(list("abc"), rng) for _ in range(12)])[: 10 * RATE]
    import soxr

    buf = io.BytesIO()
    sf.write(buf, soxr.resample(wave, RATE, 16000), 16000, format="WAV", subtype="PCM_16")
    assert len(buf.getvalue()) > 300_000
    r = _upload(client, buf.getvalue(), "ten.wav")
    assert r.status_code == 200, r.text
    assert r.json()["audio"]["seconds"] == pytest.approx(10.0, abs=0.01)


def test_too_long_is_422(speech_data):
    data, bundle = speech_data
    with local(create_app(bundle, Limits(max_audio_seconds=0.5))) as c:
        r = _upload(c, (data / "wavs" / "test_0.wav").read_bytes(), "long.wav")
    assert r.status_code == 422 and r.json()["error"].startswith("long.wav: recording too long")


def test_text_endpoints_refuse_an_audio_model(speech):
    """/predict with a path would read a file of the serving machine: an audio model takes uploads only."""
    client, data, _ = speech
    for endpoint in ("/predict", "/trace"):
        r = client.post(endpoint, json={"text": str(data / "wavs" / "test_0.wav")})
        assert r.status_code == 400 and "/upload" in r.json()["error"]


def test_a_text_model_reads_an_uploaded_file_line_by_line(intent_bundle):
    """The one upload path serves every input kind: a text model predicts each line of a text file, and bytes that
    are not text (a recording) are one line naming the upload."""
    predictor = rnnlab.load(intent_bundle)
    with local(create_app(intent_bundle)) as c:
        r = c.post("/upload", params={"name": "mine.txt"}, content="what time is it\n\nbook a table\n".encode())
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["name"] for i in items] == ["mine.txt:1", "mine.txt:3"]
        assert [i["prediction"] for i in items] == predictor.predict(["what time is it", "book a table"])
        r = c.post("/upload", params={"name": "take.wav"}, content=b"RIFF\xff\xfe\x00WAVEfmt ")
        assert r.status_code == 422 and r.json()["error"].startswith("take.wav") and "UTF-8" in r.json()["error"]
        r = c.post("/upload", params={"name": "many.txt"}, content=b"a\n" * 101)
        assert r.status_code == 422 and "101 inputs, the limit is 100" in r.json()["error"]
        assert c.post("/predict", json={"text": "what time is it?"}).status_code == 200


def test_spoken_word_upload(word_data):
    data, bundle = word_data
    predictor = rnnlab.load(bundle)
    wav = data / "wavs" / "test_0.wav"
    with local(create_app(bundle)) as c:
        assert c.get("/model").json()["input"] == "audio"
        r = _upload(c, wav.read_bytes())
    assert r.status_code == 200, r.text
    pred = r.json()
    check_prediction(pred)
    want = predictor.predict([predictor.task.parse_input(str(wav))])[0]
    assert pred["answer"] == want["answer"] and pred["ranking"] == want["ranking"]
    assert pred["audio"]["spectrogram"]["values"] and "posteriors" not in pred["audio"]
