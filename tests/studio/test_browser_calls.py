"""The studio draws an api_calls (malware family) bundle from the prediction schema alone: the calls read,
named by the API index, the family as the answer and the family ranking on the last call. Chromium."""
from __future__ import annotations

import pytest
from browsing import needs_chromium, open_page, serve
from test_browser import pct

from rnnlab.training import train
from tiny_calls import calls_config, write_calls_data

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def calls_bundle(tmp_path_factory):
    """A tiny trained GRU over API-call ids, 3 families (a few seconds on one core)."""
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("studio-calls")
    train(calls_config(write_calls_data(tmp / "d"), tmp / "run"), echo=None, command="tests/studio")
    return tmp / "run" / "bundle"


@pytest.fixture(scope="module")
def calls_server(calls_bundle):
    yield from serve(calls_bundle)


def test_page_draws_the_family_ranking(calls_server, calls_bundle, browser):
    import rnnlab

    text = "20,21,21,22,23,20 999"
    want = rnnlab.load(calls_bundle).predict([text])[0]
    assert want["answer"]["label"] == "Worms" and want["tokens"][-1] == "999"  # 999: not in the index
    page, errors = open_page(browser)
    page.goto(calls_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('api_calls')")
    page.locator("#text").press_sequentially(text, delay=10)
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "document.querySelectorAll('#steps .step').length === 7")
    steps = page.locator("#steps .step")
    assert steps.locator(".tok").all_inner_texts() == ["api_20", "api_21", "api_21", "api_22", "api_23", "api_20",
                                                      "999"]
    assert page.locator("#steps .step.unknown").count() == 1  # the call unseen in training
    # the ranking of the families, best first, on the last call read; the answer named "Family"
    last = steps.nth(6)
    assert last.locator(".guess .lab").all_inner_texts() == [r["label"] for r in want["ranking"][:3]]
    assert page.locator("#final-label").inner_text() == "Worms"
    assert page.locator("#answer").inner_text().startswith(f"Family: Worms ({pct(want['answer']['probability'])})")
    assert page.locator('figure.heatmap[data-kind="h"]').get_attribute("data-columns") == "7"
    assert errors == []
    page.close()
