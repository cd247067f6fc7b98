"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `rnnlab serve`'s app
running under uvicorn on a free loopback port. Saves test-artifacts/studio.png."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from browsing import ARTIFACTS, needs_chromium, open_page, serve

from rnnlab.tasks.base import check_prediction

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(intent_bundle):
    yield from serve(intent_bundle)


@pytest.fixture(scope="module")
def charlm_server(charlm_bundle):
    yield from serve(charlm_bundle)


@pytest.fixture(scope="module")
def slots_server(slots_bundle):
    yield from serve(slots_bundle)


@pytest.fixture(scope="module")
def translate_server(translate_bundle):
    yield from serve(translate_bundle)


@pytest.fixture(scope="module")
def untraceable_server(intent_bundle):
    """The intent model with the task's trace hook taken away: tracing is optional in the interface."""
    import rnnlab
    from rnnlab.tasks.base import Task
    from rnnlab.tasks.intent import IntentTask

    class NoTrace(IntentTask):
        trace = Task.trace

    predictor = rnnlab.load(intent_bundle)
    predictor.task.__class__ = NoTrace
    yield from serve(predictor)


def test_page_shows_intent_heatmap_and_gates(server, browser, intent_predictor):
    page, errors = open_page(browser)
    requests = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto(server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('intent')")
    page.locator("#text").press_sequentially("what time is it", delay=20)  # typed, key by key
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "document.querySelectorAll('#steps .step').length === 4")

    want = intent_predictor.predict(["what time is it"])[0]
    assert want["answer"]["label"] == "ask_time"
    assert page.locator("#final-label").inner_text() == "ask_time"
    assert page.locator("#answer").inner_text().startswith("Intent: ask_time (")  # the task's answer_kind
    # the per-token guesses, as the tutorial draws them: after "what", after "time", ...
    steps = page.locator("#steps .step")
    assert [steps.nth(i).locator(".tok").inner_text() for i in range(4)] == ["what", "time", "is", "it"]
    assert [steps.nth(i).locator(".guess .first").inner_text() for i in range(4)] == \
        [s["ranking"][0]["label"] for s in want["steps"]]
    # one heatmap column per token, for the hidden state and for every LSTM gate and the cell state
    hidden = page.locator('figure.heatmap[data-kind="h"]')
    assert hidden.count() == 1
    assert hidden.get_attribute("data-columns") == "4"
    assert hidden.locator(".hm-col").count() == 4
    kinds = page.eval_on_selector_all("#gate-maps figure.heatmap", "els => els.map(e => e.dataset.kind)")
    assert kinds == ["f", "i", "o", "c", "g"]  # kept, written, shown, the belt, the candidate
    assert page.eval_on_selector_all("#gate-maps .hm-grid", "els => els.map(e => e.children.length)") == [4] * 5
    assert page.locator("#influence .infl").count() == 4

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)
    assert errors == []
    assert all(url.startswith(server + "/") for url in requests), requests  # nothing from outside

    # a request the server refuses is shown on the page, and the page keeps working
    page.locator("#text").fill("time " * 300)
    page.locator("#text").press("Enter")
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert page.locator("#status").inner_text() == "too many tokens: 300, the limit is 256"
    page.close()


def test_page_draws_a_character_language_model(charlm_server, browser):
    """The same page, another task: one column per character, next-character guesses, two layers."""
    page, errors = open_page(browser)
    page.goto(charlm_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('charlm')")
    page.locator("#text").fill("it is time")
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "document.querySelectorAll('#steps .step').length === 10")
    assert page.locator("#answer").inner_text().startswith("Next char: ")  # the task's answer_kind
    assert page.locator("#steps .step").nth(2).locator(".tok").inner_text() == "\u2423"  # the space, made visible
    assert page.locator("#steps .step").nth(0).locator(".guess .lab").count() == 3  # top 3 next characters
    columns = page.eval_on_selector_all('figure.heatmap[data-kind="h"]', "els => els.map(e => e.dataset.columns)")
    assert columns == ["10", "10"]  # one hidden-state map per layer
    assert page.locator("#gate-maps h3").all_inner_texts() == ["layer 0, forward", "layer 1, forward"]
    assert errors == []
    page.close()


def test_page_without_trace_shows_predictions_only(untraceable_server, browser):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.goto(untraceable_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('intent')")
    page.locator("#text").fill("what time is it")
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done'")
    assert page.locator("#final-label").inner_text() == "ask_time"
    assert page.locator("#steps .step").count() == 4
    assert page.locator("#hidden-section").is_hidden() and page.locator("#gates-section").is_hidden()
    assert "predictions only" in page.locator("#status").inner_text()
    assert errors == []  # it asked /predict, not /trace (which would answer 422)
    page.close()


def test_page_draws_a_translation_and_its_attention(translate_server, browser, translate_bundle):
    """A translation model: the page shows the output text and the attention matrix as a heatmap, one column
    per output token (</s> included) and one row per source token, from the trace's sequence and attention."""
    import rnnlab

    want = rnnlab.load(translate_bundle).trace("big red runs")
    assert want["answer"]["label"] == "RUNS RED BIG" and want["target_tokens"] == ["RUNS", "RED", "BIG", "</s>"]
    page, errors = open_page(browser)
    page.goto(translate_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('translate')")
    page.locator("#text").fill("big red runs")
    page.locator("#text").press("Enter")
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "!document.getElementById('sequence-section').hidden")
    assert page.locator("#sequence-text").inner_text() == "RUNS RED BIG"
    assert page.locator("#sequence-kind").inner_text() == "Translation"
    assert page.locator("#answer").inner_text().startswith("Translation: RUNS RED BIG (")
    heat = page.locator('#attention-map figure.heatmap[data-kind="attention"]')
    assert heat.count() == 1
    assert (heat.get_attribute("data-columns"), heat.get_attribute("data-rows")) == ("4", "3")  # target x source
    assert heat.locator(".hm-col").all_inner_texts() == ["RUNS", "RED", "BIG", "</s>"]
    assert heat.locator(".hm-row-label").all_inner_texts() == ["big", "red", "runs"]
    # every cell painted: 3 source rows in each of the 4 target columns, the strongest where the word went
    cells = page.eval_on_selector_all('#attention-map .hm-col canvas', """cs => cs.map(c => {
        const ctx = c.getContext('2d'), h = c.height / 3;
        return [0, 1, 2].map(r => ctx.getImageData(1, Math.floor(r * h + h / 2), 1, 1).data[0]); })""")
    assert len(cells) == 4 and all(len(col) == 3 for col in cells)
    # darker = more attention (unitColour: red channel 255 - 222 w); reversed order -> the anti-diagonal
    assert [col.index(min(col)) for col in cells[:3]] == [2, 1, 0]
    # what else it considered: one row per output token, its alternatives best first, the chosen one marked
    rows = page.locator("#alternatives tr")
    assert page.locator("#alternatives-section").is_visible() and rows.count() == 4
    assert rows.locator("th").all_inner_texts() == ["RUNS", "RED", "BIG", "</s>"]
    first = [a[0] for a in want["alternatives"]]
    assert rows.nth(0).locator("td").first.inner_text() == f"{first[0]['label']} {100 * first[0]['probability']:.1f}%"
    assert page.locator("#alternatives td.chosen").count() == sum(
        any(a["label"] == t for a in alts) for alts, t in zip(want["alternatives"], want["target_tokens"]))
    # the encoder's states are still drawn, one column per source token, both directions
    assert page.eval_on_selector_all('#hidden-maps figure.heatmap[data-kind="h"]',
                                     "els => els.map(e => e.dataset.columns)") == ["3", "3"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-translate.png"), full_page=True)
    assert errors == []
    page.close()


# ---------------------------------------------------------------- every task kind, from the schema alone

def show(token: str) -> str:
    """A token as studio.js's showToken draws it: spaces, newlines and tabs made visible."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5")


def pct(p: float) -> str:
    """studio.js's pct: (100 p).toFixed(1 or 0), ties away from zero as toFixed rounds them."""
    places = Decimal("0.1") if p >= 0.995 or p < 0.1 else Decimal("1")
    return f"{Decimal(100 * p).quantize(places, rounding=ROUND_HALF_UP)}%"


def small(v: float) -> str:
    """studio.js's small: 0.42, -0.07, 3.1e-4."""
    if v == 0 or abs(v) >= 0.01:
        return f"{Decimal(v).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


# task -> (the server fixture, a sentence, what that task's prediction must have for the test to mean something)
KINDS = {
    "intent": ("server", "what time is it", {"answer_kind": "intent", "influence": True, "spans": False}),
    "intent_slots": ("slots_server", "play some adele on spotify zzyzx",  # zzyzx: not in the training data
                     {"answer_kind": "intent", "influence": False, "spans": True}),
    "charlm": ("charlm_server", "it is time", {"answer_kind": "next char", "influence": True, "spans": False}),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_page_draws_each_task_from_the_prediction_schema(kind, request, browser):
    """The page knows no task: for an intent model, a tagger and a character LM it draws the prediction
    schema (rnnlab.tasks.base.Prediction) of what /trace sent, field by field: the answer as answer_kind
    names it, each step's token, tag and top-3 ranking, the unknown tokens, the spans, the influence
    scores, one hidden-state column per token and layer."""
    fixture, text, expect = KINDS[kind]
    base = request.getfixturevalue(fixture)
    page, errors = open_page(browser)
    page.goto(base + "/")
    page.wait_for_function(f"document.getElementById('model-summary').textContent.startsWith('{kind} ')")
    with page.expect_response(lambda r: r.url == base + "/trace") as response:
        page.locator("#text").fill(text)
        page.locator("#text").press("Enter")
    p = response.value.json()
    page.wait_for_function("document.body.dataset.state === 'done'")

    # what the page was given follows the schema, and has what this task kind is tested for
    check_prediction({k: v for k, v in p.items() if k not in ("cell", "layers")})
    n = len(p["tokens"])
    assert p["task"] == kind and p["text"] == text and n > 0
    assert p["answer_kind"] == expect["answer_kind"]
    assert ("influence" in p) == expect["influence"] and bool(p.get("spans")) == expect["spans"]
    unknown = p.get("unknown", [False] * n)
    if kind == "intent_slots":
        assert unknown[-1] is True and any(s.get("tag", "O") != "O" for s in p["steps"])

    # the answer, named by answer_kind
    kind_word = p["answer_kind"][0].upper() + p["answer_kind"][1:]
    answer = page.locator("#answer").inner_text()
    assert page.locator("#final-label").inner_text() == show(p["answer"]["label"])
    assert answer.startswith(f"{kind_word}: {show(p['answer']['label'])} ({pct(p['answer']['probability'])})")
    # the spans (slots), or none
    if p.get("spans"):
        assert "slots: " + ", ".join(f"{s['type']}={s['text']}" for s in p["spans"]) in answer
    else:
        assert "slots:" not in answer
    # one step per token: the token, a tagger's tag (not "O"), the 3 best guesses with their percentages
    drawn = page.eval_on_selector_all("#steps .step", """els => els.map(e => ({
        tok: e.querySelector('.tok').textContent,
        tag: e.querySelector('.tag') ? e.querySelector('.tag').textContent : null,
        labels: [...e.querySelectorAll('.guess .lab')].map(x => x.textContent),
        pcts: [...e.querySelectorAll('.guess > span:not(.lab)')].map(x => x.textContent),
        unknown: e.classList.contains('unknown'), final: e.classList.contains('final')}))""")
    assert drawn == [{"tok": show(s["token"]), "tag": s["tag"] if s.get("tag", "O") != "O" else None,
                      "labels": [show(x["label"]) for x in s.get("ranking", [])[:3]],
                      "pcts": [pct(x["probability"]) for x in s.get("ranking", [])[:3]],
                      "unknown": unknown[t], "final": t == n - 1} for t, s in enumerate(p["steps"])]
    # the influence scores, one bar per token, or no influence section
    if "influence" in p:
        infl = p["influence"]
        assert page.eval_on_selector_all("#influence .infl .val", "els => els.map(e => e.textContent)") == \
            [small(v) for v in infl["scores"]]
        note = page.locator("#influence-note").inner_text()
        assert f'on "{infl["target"]}"' in note and infl["method"] in note
    else:
        assert page.locator("#influence-section").is_hidden()
    # the recorded states: one hidden-state map per layer and direction, one column per token
    assert page.eval_on_selector_all('#hidden-maps figure.heatmap[data-kind="h"]',
                                     "els => els.map(e => e.dataset.columns)") == [str(n)] * len(p["layers"])
    assert page.locator("#status").inner_text() == f"{n} tokens"
    assert errors == []
    page.close()
