"""The studio against hostile or broken clients: text that is not Unicode, bodies that are not UTF-8,
Host headers of other sites (DNS rebinding), a model card that tells nothing of the machine, a busy
port; and a property test that no request body gets a 500."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import socket

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.bundle import Predictor
from rnnlab.cli import main as cli_main
from rnnlab.studio.server import Limits, create_app

JSON = {"Content-Type": "application/json"}
SEND = 'send {"text": "..."} as UTF-8 with Content-Type: application/json'


@pytest.fixture(scope="module")
def client(intent_bundle):
    with TestClient(create_app(intent_bundle), base_url="http://127.0.0.1:8000") as c:
        yield c


def one_line_error(r) -> str:
    """The error of a response, checked to be rnnlab's shape: a JSON object with one line in "error"."""
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and "\n" not in body["error"]
    return body["error"]


# ---------------------------------------------------------------- text that is not Unicode


@pytest.mark.parametrize("endpoint", ["/predict", "/trace"])
@pytest.mark.parametrize("escaped, unit, where", [("\\ud800", "ud800", 1), ("what time \\udfff", "udfff", 11),
                                                 ("\\ude00\\ud83d", "ude00", 1)])  # a pair the wrong way round
def test_lone_surrogate_is_422(client, endpoint, escaped, unit, where):
    # as a client sends it: the JSON escape, which parses to a Python str no UTF-8 reply can carry
    r = client.post(endpoint, content=b'{"text": "%s"}' % escaped.encode(), headers=JSON)
    assert r.status_code == 422
    assert one_line_error(r) == (f"text is not valid Unicode: a lone surrogate \\{unit} at character {where}; "
                                 "surrogates come in pairs (\\ud83d\\ude00 is one emoji)")


@pytest.mark.parametrize("endpoint", ["/predict", "/trace"])
def test_surrogate_pair_is_one_character(client, endpoint):
    r = client.post(endpoint, content=b'{"text": "play \\ud83c\\udfb5 jazz"}', headers=JSON)
    assert r.status_code == 200 and r.json()["text"] == "play \U0001f3b5 jazz"


def test_surrogate_in_a_field_name_is_not_a_500(client):
    r = client.post("/predict", content=b'{"\\ud800": "what time is it"}', headers=JSON)
    assert r.status_code == 422
    one_line_error(r)


@pytest.mark.parametrize("body, byte, offset", [(b'{"text": "caf\xc3"}', 0xc3, 13), (b"\xff", 0xff, 0),
                                                ('{"text": "été"}'.encode("utf-16"), 0xff, 0),
                                                ('{"text": "été"}'.encode("latin-1"), 0xe9, 10)])
@pytest.mark.parametrize("endpoint", ["/predict", "/trace"])
def test_body_not_utf8_is_400_in_our_words(client, endpoint, body, byte, offset):
    r = client.post(endpoint, content=body, headers=JSON)
    assert r.status_code == 400
    assert one_line_error(r) == f"request body is not valid UTF-8 (byte 0x{byte:02x} at offset {offset}); {SEND}"


def test_json_nested_too_deep_is_400_in_our_words(client):
    r = client.post("/predict", content=b"[" * 10000, headers=JSON)
    assert r.status_code == 400
    assert one_line_error(r) == f"request body is not valid JSON (nested too deeply); {SEND}"


# ---------------------------------------------------------------- Host header (DNS rebinding)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "LocalHost:8000", "[::1]",
                                  "[::1]:8000"])
def test_loopback_hosts_are_served(client, host):
    r = client.get("/health", headers={"Host": host})
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("host, name", [("evil.example", "evil.example"), ("Evil.Example:8000", "evil.example"),
                                        ("127.0.0.1.evil.example", "127.0.0.1.evil.example"),
                                        ("localhost.evil:8000", "localhost.evil"), ("testserver", "testserver"),
                                        ("[::2]:8000", "::2"), ("0.0.0.0:8000", "0.0.0.0"), ("", "")])
@pytest.mark.parametrize("method, path", [("GET", "/health"), ("GET", "/model"), ("GET", "/"),
                                          ("POST", "/predict")])
def test_other_hosts_get_400(client, host, name, method, path):
    r = client.request(method, path, headers={"Host": host}, json={"text": "what time is it"})
    assert r.status_code == 400
    assert one_line_error(r) == (f"Host {name!r} is not served here: this server answers 127.0.0.1, [::1], "
                                 "localhost; to serve another name, start it with rnnlab serve --allow-host NAME")


@pytest.mark.parametrize("headers, problem", [([], "no Host header"),
                                              ([(b"host", b"localhost"), (b"host", b"evil.example")],
                                               "more than one Host header")])
def test_no_or_two_host_headers_get_400(intent_predictor, headers, problem):
    """HTTP/1.0 has no Host header, and httpx sends exactly one: the app is called as an ASGI app here."""
    app = create_app(intent_predictor)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.0", "method": "GET", "scheme": "http",
             "path": "/health", "raw_path": b"/health", "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"].startswith(f"{problem}: this server answers 127.0.0.1")


def test_allowed_hosts_replace_the_default(intent_predictor):
    app = create_app(intent_predictor, allowed_hosts=("Studio.Example:443", "10.0.0.5"))
    with TestClient(app, base_url="http://studio.example") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": "10.0.0.5:8000"}).status_code == 200
        r = c.get("/health", headers={"Host": "localhost"})
    assert r.status_code == 400 and "this server answers 10.0.0.5, studio.example;" in one_line_error(r)


# ---------------------------------------------------------------- the model card


def test_model_card_shows_no_machine_paths(intent_predictor):
    cfg = intent_predictor.config
    data = dataclasses.replace(cfg.data, train="/home/ana/corpora/snips/train.jsonl",
                               test="~/corpora/snips/test.jsonl", valid="data\\valid.jsonl")
    predictor = Predictor(task=intent_predictor.task, model=intent_predictor.model,
                          config=dataclasses.replace(cfg, data=data, run_dir="/home/ana/runs/snips"),
                          metrics=intent_predictor.metrics, card="Command: `rnnlab train /home/ana/x.toml`",
                          path=intent_predictor.path)
    with TestClient(create_app(predictor), base_url="http://localhost") as c:
        r = c.get("/model")
    card = r.json()
    assert card["config"]["data"]["train"] == "train.jsonl" and card["config"]["data"]["test"] == "test.jsonl"
    assert card["config"]["data"]["valid"] == "valid.jsonl"
    assert card["config"]["data"]["lowercase"] is True  # reading options stay: they are the model's
    assert set(card["config"]) == {"task", "model", "data", "train"}
    assert "/home/ana" not in r.text and "~/" not in r.text and str(intent_predictor.path) not in r.text
    assert "Command" not in r.text
    assert card["task"] == "intent" and card["metrics"] == intent_predictor.metrics


# ---------------------------------------------------------------- rnnlab serve


def test_serve_on_a_busy_port_is_one_line_and_no_banner(intent_bundle, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("uvicorn should not start"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli_main(["serve", str(intent_bundle), "--port", str(port)])
    out, err = capsys.readouterr()
    assert code == 1 and "http://" not in out
    assert err == f"rnnlab serve: error: 127.0.0.1:{port} is in use (another server, or a studio already " \
                  "running?): choose another with --port\n"


def test_serve_unknown_host_is_one_line(intent_bundle, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("uvicorn should not start"))
    assert cli_main(["serve", str(intent_bundle), "--host", "no-such-host.invalid"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--host no-such-host.invalid: no such host name" in err


def test_serve_allow_host(intent_bundle, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli_main(["serve", str(intent_bundle), "--port", str(port), "--allow-host", "studio.example",
                     "--allow-host", "box.lan:8000"]) == 0
    with TestClient(seen["app"], base_url=f"http://127.0.0.1:{port}") as c:
        status = {h: c.get("/health", headers={"Host": h}).status_code
                  for h in ("studio.example", "box.lan", "localhost", f"[::1]:{port}", "evil.example")}
    assert status == {"studio.example": 200, "box.lan": 200, "localhost": 200, f"[::1]:{port}": 200,
                      "evil.example": 400}


def test_serve_answers_the_host_it_is_bound_to(intent_bundle, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    monkeypatch.setattr("rnnlab.cli.serve.check_port", lambda host, port: None)  # 10.1.2.3 is not ours
    assert cli_main(["serve", str(intent_bundle), "--host", "10.1.2.3"]) == 0
    with TestClient(seen["app"], base_url="http://10.1.2.3:8000") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": "10.1.2.4"}).status_code == 400


def test_serve_empty_allow_host(intent_bundle, capsys):
    assert cli_main(["serve", str(intent_bundle), "--allow-host", ""]) == 1
    assert "--allow-host needs a host name" in capsys.readouterr().err


# ---------------------------------------------------------------- no request body gets a 500

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# text as clients can spell it in JSON, surrogates and control characters included: a "\uXXXX" escape
# for any code unit, or any character as itself
_unit = st.one_of(st.integers(0, 0xFFFF).map(lambda u: f"\\u{u:04x}"),
                  st.integers(0xD800, 0xDFFF).map(lambda u: f"\\u{u:04x}"),  # surrogates, often
                  st.characters(exclude_categories=("Cs",)).map(lambda c: json.dumps(c, ensure_ascii=False)[1:-1]))
_escaped_text = st.lists(_unit, max_size=40).map("".join)
_bodies = st.one_of(
    _escaped_text.map(lambda t: b'{"text": "%s"}' % t.encode()),  # the field, with any text
    st.builds(lambda t, extra: json.dumps({"text": t, **extra}).encode(),  # the field plus others
              st.text(max_size=30), st.dictionaries(st.text(max_size=8), _scalars, max_size=2)),
    _json.map(lambda v: json.dumps(v).encode()),  # any JSON value at all
    st.binary(max_size=60),  # any bytes (mostly not JSON, often not UTF-8)
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
)


@settings(max_examples=60, deadline=None)
@given(body=_bodies, endpoint=st.sampled_from(["/predict", "/trace"]),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None]))
def test_no_body_gets_a_500(client, body, endpoint, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post(endpoint, content=body, headers=headers)
    assert r.status_code < 500, (body, r.text)
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    if r.status_code == 200:
        assert isinstance(answer["answer"]["label"], str)
        assert len(answer["tokens"]) == len(answer["influence"]["scores"])
    else:
        assert set(answer) == {"error"} and "\n" not in answer["error"]


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=60),  # surrogates too
       endpoint=st.sampled_from(["/predict", "/trace"]))
def test_any_python_text_gets_json(client, text, endpoint):
    """Any Python str at all, sent as json.dumps spells it (a lone surrogate as its escape), is served or
    refused with 422."""
    r = client.post(endpoint, content=json.dumps({"text": text}).encode(), headers=JSON)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        # "text: ...": a control character (rnnlab.readers.lines.check_line, as every verb refuses it)
        assert one_line_error(r).startswith(("text is empty", "text is not valid Unicode", "no words", "text: "))
    else:  # the text the JSON spells: a high then a low surrogate escape is one character (RFC 8259, 7)
        assert r.json()["text"] == json.loads(json.dumps(text))


def test_limits_still_hold(intent_predictor):
    """The new checks sit beside the limits, not in place of them."""
    with TestClient(create_app(intent_predictor, Limits(max_body_bytes=64)), base_url="http://127.0.0.1") as c:
        r = c.post("/predict", content=b'{"text": "' + b"\xff" * 100 + b'"}', headers=JSON)
    assert r.status_code == 413
