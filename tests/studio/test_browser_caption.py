"""The studio with a caption bundle, in Chromium: a photo chosen in the page's file input is captioned, and under
each word the photo is drawn lit where the decoder looked; a file that is not a photo is the server's one-line error
on the page, and the page keeps working. Saves test-artifacts/studio-caption.png."""
from __future__ import annotations

import pytest
import torch
from browsing import ARTIFACTS, CANVAS_COLOURS_OF, needs_chromium, open_page, serve

import rnnlab
from rnnlab.config import config_from_dict
from rnnlab.training import train
from tiny_caption import toy_config

pytestmark = needs_chromium

@pytest.fixture(scope="module")
def caption_bundle(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("studio-caption")
    train(config_from_dict(toy_config(folder)), echo=None)
    return folder


@pytest.fixture(scope="module")
def caption_server(caption_bundle):
    yield from serve(caption_bundle / "run" / "bundle")


def _upload(page, path):
    page.evaluate("document.body.dataset.state = ''")
    page.locator("#image-file").set_input_files(str(path))
    page.wait_for_function("document.body.dataset.state === 'done'")


def test_a_chosen_photo_is_captioned_with_its_attention_per_word(caption_server, caption_bundle, browser):
    photo = caption_bundle / "data" / "images" / "blue_circle.png"
    want = rnnlab.load(caption_bundle / "run" / "bundle").trace(str(photo))
    page, errors = open_page(browser, height=900)
    page.goto(caption_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('caption')")
    assert page.locator("#text-row").is_hidden() and not page.locator("#image-drop-zone").is_hidden()
    _upload(page, photo)
    assert "error" not in (page.locator("#status").get_attribute("class") or "")
    assert page.locator("#caption-text").inner_text() == want["answer"]["label"]
    figures = page.locator("#caption-words figure[data-word]")
    assert [figures.nth(i).get_attribute("data-word") for i in range(figures.count())] == want["target_tokens"]
    # each word's panel is the photo under its own attention mask: drawn, and not all the same
    canvases = page.locator("#caption-words canvas")
    assert canvases.count() == len(want["target_tokens"]) + 1  # + the photo itself
    assert all(canvases.nth(i).evaluate(CANVAS_COLOURS_OF) > 2 for i in range(canvases.count()))
    sums = [canvases.nth(i).evaluate("(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
                                     ".reduce((a, b) => a + b, 0)") for i in range(canvases.count())]
    assert sums[1] < sums[0]  # the mask darkens where the word did not look
    assert "looked most at row" in figures.nth(0).get_attribute("title")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-caption.png"), full_page=True)
    assert errors == []

    bad = caption_bundle / "notes.jpg"
    bad.write_text("these are my notes, not a photo\n")
    _upload(page, bad)
    status = page.locator("#status")
    assert "error" in status.get_attribute("class")
    assert status.inner_text().startswith("notes.jpg: not an image") and "\n" not in status.inner_text()
    _upload(page, photo)
    assert "error" not in (status.get_attribute("class") or "")
    assert [e for e in errors if "status of 422" not in e] == []
    page.close()
