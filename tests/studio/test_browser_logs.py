"""The studio draws a log_anomaly bundle from the prediction schema alone: the verdict as the answer and the session
as a strip of events coloured by surprise, one cell per event. Chromium."""
from __future__ import annotations

import random

import pytest
from browsing import needs_chromium, open_page, serve

from rnnlab.config import load_config
from rnnlab.training import train

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def logs_bundle(tmp_path_factory):
    """A tiny trained LSTM next-event model on sessions of a small grammar (a few seconds on one core)."""
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("studio-logs")
    rng = random.Random(0)
    sessions = ["1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 3))) + " 6"
                for _ in range(120)]
    (tmp / "train.txt").write_text("\n".join(sessions) + "\n")
    (tmp / "names.txt").write_text("1 open\n2 read\n3 write\n")  # 4, 5, 6 and 9 unnamed: shown by their ids
    cfg = load_config(None, ["task=log_anomaly", f"run_dir={tmp / 'run'}", f"data.train={tmp / 'train.txt'}",
                             f"data.event_names={tmp / 'names.txt'}",
                             "model.window=4", "model.top_g=2", "model.hidden_size=16", "model.embed_size=8",
                             "train.epochs=10", "train.batch_size=16", "train.lr=0.01", "train.progress=false"])
    train(cfg, echo=None, command="tests/studio")
    return tmp / "run" / "bundle"


@pytest.fixture(scope="module")
def logs_server(logs_bundle):
    yield from serve(logs_bundle)


def test_session_is_a_strip_coloured_by_surprise(logs_server, logs_bundle, browser):
    import rnnlab

    text = "blk_1,1 2 3 4 9 6"
    want = rnnlab.load(logs_bundle).predict([text])[0]
    assert want["answer"]["label"] == "abnormal" and want["unknown"][4]
    page, errors = open_page(browser)
    page.goto(logs_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('log_anomaly')")
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "document.querySelectorAll('#score-strip .strip-cell').length === 6")
    cells = page.locator("#score-strip .strip-cell")
    # one cell per event (the session id is not one), by its name where the bundle has one
    assert cells.all_inner_texts() == ["open", "read", "write", "4", "9", "6"]
    assert cells.nth(0).get_attribute("title").startswith("open (1): surprise ")
    scores = [float(cells.nth(i).get_attribute("data-score")) for i in range(6)]
    assert scores == pytest.approx([s["score"] for s in want["steps"]], abs=1e-6)
    colours = [cells.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(6)]
    green = [int(c.split(",")[1]) for c in colours]  # "rgb(255, G, B)": G falls as the surprise grows
    # the more surprising the event, the darker its cell; the unknown event (9) is the darkest by far
    order = sorted(range(6), key=lambda i: scores[i])
    assert [green[i] for i in order] == sorted(green, reverse=True)
    assert green[4] == min(green) and green[4] < 60 and max(green) > 200
    # where the trace goes wrong, in words: the first most surprising event and its position
    assert page.locator("#strip-peak").inner_text().startswith("most surprising: 9, token 5 of 6 (surprise ")
    assert page.locator("#final-label").inner_text() == "abnormal"
    assert page.locator("#steps .step").count() == 6
    assert page.locator("#score-strip").is_visible()
    assert errors == []
    page.close()
