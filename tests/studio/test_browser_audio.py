"""The studio with speech bundles, in Chromium: a recording chosen in the page's file input (and one recorded from
Chromium's fake microphone) is drawn as a spectrogram, the CTC posteriors on the same time axis, the word timings
and the transcript; a spoken_word bundle shows the word and its ranking; a file that is not audio is the server's
one-line error on the page. Saves test-artifacts/studio-speech.png and studio-speech-microphone.png."""
from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf
from browsing import ARTIFACTS, CANVAS_COLOURS, CHROMIUM, CHROMIUM_ARGS, needs_chromium, open_page, serve

import rnnlab
from tiny_speech import RATE, tone_wave

pytestmark = needs_chromium

@pytest.fixture(scope="module")
def speech_server(speech_data):
    yield from serve(speech_data[1])


@pytest.fixture(scope="module")
def word_server(word_data):
    yield from serve(word_data[1])


def _open(browser, server, task):
    page, errors = open_page(browser, height=1000)
    page.goto(server + "/")
    page.wait_for_function(f"document.getElementById('model-summary').textContent.startsWith('{task}')")
    return page, errors


def _upload(page, path):
    page.evaluate("document.body.dataset.state = ''")
    page.locator("#audio-file").set_input_files(str(path))
    page.wait_for_function("document.body.dataset.state === 'done'")


def test_an_uploaded_wav_is_drawn_with_its_transcript(speech_server, speech_data, browser):
    data, bundle = speech_data
    wav = data / "wavs" / "test_0.wav"
    predictor = rnnlab.load(bundle)
    want = predictor.task.predict(predictor.model, [predictor.task.parse_input(str(wav))])[0]

    page, errors = _open(browser, speech_server, "speech")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    assert page.locator("#text-row").is_hidden() and not page.locator("#drop-zone").is_hidden()
    _upload(page, wav)
    assert "error" not in (page.locator("#status").get_attribute("class") or "")
    assert page.locator("#transcript").inner_text() == " ".join(want["sequence"])
    assert want["audio"]["greedy"].strip() in page.locator("#audio-greedy").inner_text()

    size = page.evaluate("(() => { const c = document.getElementById('spectrogram'); return [c.width, c.height]; })()")
    assert size[0] > 100 and size[1] > 50
    assert page.evaluate(CANVAS_COLOURS, "spectrogram") > 10
    assert page.locator("#spectrogram").get_attribute("data-columns") == str(round(want["audio"]["seconds"] / 0.01))
    # one posterior column per model step, one row per symbol, drawn
    post = page.locator("#posteriors")
    assert post.get_attribute("data-steps") == str(want["audio"]["steps"]) == str(len(want["audio"]["posteriors"]))
    assert post.get_attribute("data-symbols") == str(len(want["audio"]["symbols"]))
    assert page.evaluate(CANVAS_COLOURS, "posteriors") > 3
    # the spectrogram and the posteriors share the time axis: the same width
    assert page.evaluate("document.getElementById('posteriors').width") == size[0]
    spans = page.locator("#word-track .word-span")
    assert spans.count() == len(want["audio"]["words"]) > 0
    assert [spans.nth(i).inner_text() for i in range(spans.count())] == [w["word"] for w in want["audio"]["words"]]
    # the spans sit under the steps they were heard at: in time order, inside the axis
    lefts = [spans.nth(i).bounding_box()["x"] for i in range(spans.count())]
    assert lefts == sorted(lefts)

    page.locator("#posteriors").hover(position={"x": 60, "y": 5})
    assert "step" in page.locator("#tooltip").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-speech.png"), full_page=True)
    assert errors == []
    assert all(url.startswith(speech_server + "/") for url in requests), requests

    # (c) a file that is not audio: the server's one line on the page, and the page keeps working
    bad = data / "notes.wav"
    bad.write_text("these are my notes, not a recording\n")
    _upload(page, bad)
    status = page.locator("#status")
    assert "error" in status.get_attribute("class")
    assert status.inner_text().startswith("notes.wav: not an audio file") and "\n" not in status.inner_text()
    _upload(page, data / "wavs" / "test_1.wav")
    assert "error" not in (status.get_attribute("class") or "")
    # the browser logs the refused request itself; nothing else went wrong
    assert [e for e in errors if "status of 422" not in e] == []
    page.close()


def test_a_spoken_word_shows_the_word_and_its_ranking(word_server, word_data, browser):
    data, bundle = word_data
    wav = data / "wavs" / "test_0.wav"
    want = rnnlab.load(bundle).predict([rnnlab.load(bundle).task.parse_input(str(wav))])[0]
    page, errors = _open(browser, word_server, "spoken_word")
    _upload(page, wav)
    assert page.locator("#final-label").inner_text() == want["answer"]["label"]
    items = page.locator("#audio-ranking li")
    assert [items.nth(i).get_attribute("data-label") for i in range(items.count())] == \
        [r["label"] for r in want["ranking"]]
    assert page.evaluate(CANVAS_COLOURS, "spectrogram") > 10
    assert page.locator("#posteriors").is_hidden() and page.locator("#word-track").is_hidden()
    assert errors == []
    page.close()


def test_recording_from_the_microphone(speech_server, browser, tmp_path):
    """Chromium's fake microphone plays a WAV the test writes (in a loop): Record, ~1.5 s, Stop -> a transcript.
    A second Chromium with the fake-capture flags, launched by the Playwright that runs the module's `browser` (a
    second sync_playwright cannot start inside the first one's event loop)."""
    fake = tmp_path / "mic.wav"
    rng = random.Random(3)
    wave = np.concatenate([tone_wave(list("abc"), rng) for _ in range(3)])
    import soxr

    sf.write(fake, soxr.resample(wave, RATE, 48000), 48000, subtype="PCM_16")
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake}", "--autoplay-policy=no-user-gesture-required"]
    mic_browser = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        page, errors = _open(mic_browser, speech_server, "speech")
        page.locator("#record").click()
        page.wait_for_function("document.body.dataset.recording === 'on'")
        page.wait_for_timeout(1500)
        page.locator("#stop").click()
        page.wait_for_function("document.body.dataset.state === 'done'", timeout=30000)
        status = page.locator("#status")
        assert "error" not in (status.get_attribute("class") or ""), status.inner_text()
        assert status.inner_text().startswith("recording.wav: ")
        assert isinstance(page.locator("#transcript").inner_text(), str)
        seconds = float(page.locator("#audio-section").get_attribute("data-seconds"))
        assert 0.8 < seconds < 5.0
        assert page.evaluate(CANVAS_COLOURS, "spectrogram") > 10
        assert int(page.locator("#posteriors").get_attribute("data-steps")) > 50
        assert page.locator("#record").is_enabled() and page.locator("#stop").is_disabled()
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio-speech-microphone.png"), full_page=True)
    finally:
        mic_browser.close()
