"""The studio's HTTP API: every endpoint, every error case, and that the server outlives bad requests."""
from __future__ import annotations

import json
import socket
import threading

import pytest
import torch
from fastapi.testclient import TestClient

import rnnlab
from rnnlab.cli import main as cli_main
from rnnlab.cli import serve as serve_cli
from rnnlab.errors import UserError
from rnnlab.studio.server import Limits, create_app

TEXT = "what time is it?"


def local(app) -> TestClient:
    """A client that addresses the app as a browser on this machine does: the studio answers loopback
    Host names only (TestClient's default Host, "testserver", gets 400; see test_hardening.py)."""
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def client(intent_bundle):
    # loaded from the bundle path, as `rnnlab serve` does
    with local(create_app(intent_bundle)) as c:
        yield c


def small_client(predictor, **limits) -> TestClient:
    return local(create_app(predictor, Limits(**limits)))


# ---------------------------------------------------------------- endpoints


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "task": "intent"}


def test_model_card(client, intent_bundle):
    r = client.get("/model")
    assert r.status_code == 200
    card = r.json()
    assert card["task"] == "intent"
    assert card["description"].startswith("Many-to-one intent classification")
    assert card["config"]["model"]["cell"] == "lstm" and card["config"]["model"]["hidden_size"] == 24
    assert card["config"]["data"]["train"] == "package:demo_intents/train.jsonl"  # shipped data: no machine path
    assert card["metrics"] == json.loads((intent_bundle / "metrics.json").read_text())
    # nothing of the machine: no bundle path, run_dir, training command (so not the README, which has it)
    assert {"bundle", "readme"}.isdisjoint(card) and "run_dir" not in card["config"]
    assert str(intent_bundle.parent) not in r.text and "tests/studio/conftest.py" not in r.text
    assert card["limits"] == {"max_body_bytes": 16384, "max_chars": 2000, "max_tokens": 256,
                              "max_audio_bytes": 20 * 1024 * 1024, "max_audio_seconds": 60.0, "max_upload_items": 100}
    assert card["input"] == "text"
    assert card["can_trace"] is True
    assert card["summary"].startswith("intent · cell lstm, hidden_size 24, num_layers 1 · test accuracy ")


def test_predict_matches_the_bundle(client, intent_predictor):
    r = client.post("/predict", json={"text": TEXT})
    assert r.status_code == 200
    got = r.json()
    want = intent_predictor.predict([TEXT])[0]
    assert got["answer"]["label"] == want["answer"]["label"] == "ask_time"
    assert got["answer"]["probability"] == pytest.approx(want["answer"]["probability"], abs=1e-6)
    assert got["task"] == "intent" and got["text"] == TEXT
    assert got["tokens"] == ["what", "time", "is", "it", "?"]
    assert [s["token"] for s in got["steps"]] == got["tokens"]
    assert len(got["influence"]["scores"]) == 5


def test_trace_lstm_follows_the_equations(client, intent_predictor):
    r = client.post("/trace", json={"text": TEXT})
    assert r.status_code == 200
    tr = r.json()
    assert tr["tokens"] == ["what", "time", "is", "it", "?"] and tr["answer"]["label"] == "ask_time"
    assert len(tr["steps"]) == 5 and len(tr["influence"]["scores"]) == 5
    (layer,) = tr["layers"]
    assert (layer["layer"], layer["direction"]) == (0, "forward")
    assert set(layer["gates"]) == {"in_gate", "forget_gate", "cell_candidate", "out_gate"}
    g = {k: torch.tensor(v) for k, v in layer["gates"].items()}
    h, c = torch.tensor(layer["h"]), torch.tensor(layer["c"])  # (T, H)
    assert h.shape == c.shape == (5, 24)
    c_prev = torch.cat([torch.zeros(1, 24), c[:-1]])
    torch.testing.assert_close(c, g["forget_gate"] * c_prev + g["in_gate"] * g["cell_candidate"], atol=1e-5, rtol=0)
    torch.testing.assert_close(h, g["out_gate"] * torch.tanh(c), atol=1e-5, rtol=0)
    # the glass trace is the same network the fused engine runs for /predict
    model = intent_predictor.model
    with torch.no_grad():
        ids = torch.tensor([intent_predictor.task.words.encode(tr["tokens"])])
        out, _ = model.encoder(model.embed(ids), lengths=torch.tensor([5]))
    torch.testing.assert_close(h, out[0], atol=1e-5, rtol=0)
    # the influences sum (gradient x input) are per token and finite
    assert all(isinstance(v, float) for v in tr["influence"]["scores"])
    assert tr["influence"]["target"] == "ask_time"


def test_trace_gru_has_reset_and_update_gates(intent_predictor, gru_bundle):
    with local(create_app(gru_bundle)) as c:
        tr = c.post("/trace", json={"text": "play some jazz"}).json()
    (layer,) = tr["layers"]
    assert set(layer["gates"]) == {"reset_gate", "update_gate", "candidate"}
    assert "c" not in layer
    z, n = torch.tensor(layer["gates"]["update_gate"]), torch.tensor(layer["gates"]["candidate"])
    h = torch.tensor(layer["h"])
    h_prev = torch.cat([torch.zeros(1, h.shape[1]), h[:-1]])
    torch.testing.assert_close(h, (1 - z) * n + z * h_prev, atol=1e-5, rtol=0)  # torch.nn's GRU update


def test_char_language_model(charlm_bundle):
    """Another task through the same server: next-character distributions, per-character states."""
    with local(create_app(charlm_bundle, Limits(max_tokens=10))) as c:
        assert c.get("/health").json() == {"status": "ok", "task": "charlm"}
        pred = c.post("/predict", json={"text": "what ti"}).json()
        tr = c.post("/trace", json={"text": "what ti"}).json()
        too_long = c.post("/trace", json={"text": "what time is"})  # 12 characters: the LM reads characters
    assert pred["tokens"] == tr["tokens"] == list("what ti")
    assert pred["ranking"][0]["probability"] >= pred["ranking"][1]["probability"]
    assert pred["answer"] == pred["ranking"][0] and pred["answer_kind"] == "next char"
    assert [s["token"] for s in tr["steps"]] == list("what ti")
    assert all(len(s["ranking"]) == 5 for s in tr["steps"])
    assert [(layer["layer"], layer["direction"], len(layer["h"]), len(layer["h"][0])) for layer in tr["layers"]] == \
        [(0, "forward", 7, 12), (1, "forward", 7, 12)]
    assert len(tr["influence"]["scores"]) == 7
    assert too_long.status_code == 422 and too_long.json() == {"error": "too many tokens: 12, the limit is 10"}


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<script src="/static/studio.js"' in r.text and 'href="/static/studio.css"' in r.text
    js = client.get("/static/studio.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    css = client.get("/static/studio.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # nothing is fetched from outside the server: no absolute URLs in the page or its assets
    for body in (r.text, js.text, css.text):
        assert "http://" not in body and "https://" not in body and "//cdn" not in body


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/model", "/predict", "/trace"} <= set(paths)
    assert "/" not in paths


# ---------------------------------------------------------------- limits and bad requests


def test_body_too_large_by_content_length(client):
    body = json.dumps({"text": "time " * 5000}).encode()  # ~25 kB > 16 kB
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"error": "request body too large: the limit is 16384 bytes"}


def test_body_too_large_when_streamed_without_content_length(client):
    def chunks():  # a generator body goes out chunked: no Content-Length to trust
        yield b'{"text": "'
        for _ in range(100):
            yield b"time " * 50
        yield b'"}'

    r = client.post("/trace", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_streamed_body_under_the_limit_is_served(client):
    r = client.post("/predict", content=iter([b'{"text": ', b'"what time', b' is it"}']),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["answer"]["label"] == "ask_time"


def test_invalid_content_length(client):
    r = client.post("/predict", content=b'{"text": "hi"}',
                    headers={"Content-Type": "application/json", "Content-Length": "lots"})
    assert r.status_code == 400 and r.json()["error"] == "invalid Content-Length header"


def test_text_too_long(intent_predictor):
    with small_client(intent_predictor, max_chars=20) as c:
        r = c.post("/predict", json={"text": "what time is it in new york"})
    assert r.status_code == 422
    assert r.json() == {"error": "text too long: 27 characters, the limit is 20"}


def test_too_many_tokens(intent_predictor):
    with small_client(intent_predictor, max_tokens=4) as c:
        ok = c.post("/predict", json={"text": "what time is it"})
        r = c.post("/trace", json={"text": "what time is it now"})
    assert ok.status_code == 200
    assert r.status_code == 422
    assert r.json() == {"error": "too many tokens: 5, the limit is 4"}


def test_invalid_json(client):
    r = client.post("/predict", content=b'{"text": "what time', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("request body is not valid JSON")


@pytest.mark.parametrize("body, message", [
    ({"text": 3}, "field 'text': Input should be a valid string"),
    ({"text": None}, "field 'text': Input should be a valid string"),
    ({"text": ["what", "time"]}, "field 'text': Input should be a valid string"),
    ({}, "field 'text' is required"),
    ({"txt": "what time is it"}, "field 'text' is required; field 'txt' is not allowed (the only field is 'text')"),
    ({"text": "hi", "lang": "en"}, "field 'lang' is not allowed (the only field is 'text')"),
    (["what time is it"], "body must be a JSON object"),
    ("what time is it", "body must be a JSON object"),
])
def test_wrong_types(client, body, message):
    r = client.post("/predict", json=body)
    assert r.status_code == 422
    assert r.json()["error"].startswith(message)


def test_not_json_content_type(client):
    r = client.post("/predict", content=b"text=hi", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["error"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
@pytest.mark.parametrize("endpoint", ["/predict", "/trace"])
def test_empty_text(client, endpoint, text):
    r = client.post(endpoint, json={"text": text})
    assert r.status_code == 422 and r.json()["error"].startswith("text is empty")


def test_unknown_route_and_method(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint: GET /nowhere (see /docs)"}
    r = client.get("/predict")
    assert r.status_code == 405 and r.json() == {"error": "method GET not allowed on /predict (see /docs)"}


def test_task_user_error_is_422_and_crash_is_500(intent_bundle, monkeypatch):
    predictor = rnnlab.load(intent_bundle)  # its own task: the monkeypatches stay here

    def refuse(model, inputs):
        raise UserError("no words to classify")

    def crash(model, input):
        raise RuntimeError("boom")

    monkeypatch.setattr(predictor.task, "predict", refuse)
    monkeypatch.setattr(predictor.task, "trace", crash)
    monkeypatch.setattr(predictor.task, "trace_many", crash)  # /trace's batched call
    with local(create_app(predictor)) as c:
        r = c.post("/predict", json={"text": "what"})
        assert r.status_code == 422 and r.json() == {"error": "no words to classify"}
        r = c.post("/trace", json={"text": "what"})
        assert r.status_code == 500
        assert r.json() == {"error": "internal error: the model call failed; the server log has the details"}
        assert c.get("/health").status_code == 200  # still serving


def test_task_without_trace(intent_bundle):
    """Tracing is optional in the Task interface: the card says so (the page then uses /predict)."""
    from rnnlab.tasks.base import Task
    from rnnlab.tasks.intent import IntentTask

    class NoTrace(IntentTask):
        trace = Task.trace

    predictor = rnnlab.load(intent_bundle)
    predictor.task.__class__ = NoTrace
    with local(create_app(predictor)) as c:
        assert c.get("/model").json()["can_trace"] is False
        assert c.post("/predict", json={"text": TEXT}).json()["answer"]["label"] == "ask_time"
        r = c.post("/trace", json={"text": TEXT})
    assert r.status_code == 422 and r.json() == {"error": "task 'intent' does not support tracing"}


def test_concurrent_requests_agree_with_sequential(client):
    texts = ["what time is it", "play some jazz", "will it rain tomorrow", "wake me up at seven"] * 4
    want = {t: client.post("/predict", json={"text": t}).json() for t in set(texts)}
    got: list = [None] * len(texts)

    def call(i: int) -> None:
        got[i] = client.post("/predict" if i % 2 else "/trace", json={"text": texts[i]}).json()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for text, answer in zip(texts, got):
        assert answer["answer"]["label"] == want[text]["answer"]["label"]
        assert answer["answer"]["probability"] == pytest.approx(want[text]["answer"]["probability"], abs=1e-6)


# ---------------------------------------------------------------- the CLI verb


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.10", False)])
def test_is_loopback(host, loopback):
    assert serve_cli.is_loopback(host) is loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("host, warns", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serve_verb_runs_uvicorn_and_warns_off_loopback(intent_bundle, monkeypatch, capsys, host, warns):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    threads = torch.get_num_threads()
    port = free_port()  # the verb checks that the port is free before it prints the banner
    try:
        code = cli_main(["serve", str(intent_bundle), "--host", host, "--port", str(port), "--threads", "1",
                         "--max-tokens", "7"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    assert (seen["host"], seen["port"]) == (host, port)
    assert seen["app"].state.limits == Limits(max_tokens=7)
    err = capsys.readouterr().err
    assert ("warning: listening on 0.0.0.0" in err) is warns


def test_serve_verb_bad_bundle_is_one_line(tmp_path, capsys):
    assert cli_main(["serve", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a bundle directory" in err


def test_serve_verb_bad_port(intent_bundle, capsys):
    assert cli_main(["serve", str(intent_bundle), "--port", "70000"]) == 1
    assert "give a TCP port between 1 and 65535" in capsys.readouterr().err
