"""Dynamic batching of /predict and /trace (rnnlab.studio.batching): the batcher's window, size, options and errors on a
fake model; then the server's batched answers against the unbatched ones, for intent and log_anomaly bundles
with ragged inputs; one bad request among good ones; and `rnnlab serve`'s batching and threads flags."""
from __future__ import annotations

import asyncio
import random
import threading
import time

import httpx
import pytest
import torch

import rnnlab
from rnnlab.cli import main as cli_main
from rnnlab.cli import serve as serve_cli
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.precision import rel_tolerance
from rnnlab.studio.batching import Batcher, Batching
from rnnlab.studio.server import create_app
from rnnlab.training import train

# ---------------------------------------------------------------- the batcher alone


class Recorder:
    """A fake model call: records each batch and its options, answers each input doubled (and raises for
    "bad"); `gate`, when set, holds every call until released."""

    def __init__(self, gate: threading.Event | None = None):
        self.calls: list[tuple[list, dict]] = []
        self.gate = gate

    def __call__(self, values, **options):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls.append((list(values), options))
        if "bad" in values:
            raise UserError("bad input")
        return [v * 2 for v in values]


def test_max_batch_caps_each_call():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=4, wait_ms=2000))  # a window long enough for all 10 to queue
    futures = [batcher.submit(i) for i in range(10)]
    assert [f.result(10) for f in futures] == [2 * i for i in range(10)]
    # two full batches at once; the last 2 when the oldest of them has waited the window
    assert [values for values, _ in run.calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    batcher.close()


def test_wait_window_collects_late_arrivals_and_bounds_the_wait():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=32, wait_ms=300))
    t0 = time.monotonic()
    first = batcher.submit(1)
    time.sleep(0.05)  # well inside the window
    second = batcher.submit(2)
    assert (first.result(10), second.result(10)) == (2, 4)
    waited = time.monotonic() - t0
    assert run.calls == [([1, 2], {})]  # one call for both
    assert waited >= 0.3  # the window is waited out when the batch is not full
    batcher.close()


def test_without_a_window_what_queued_during_a_call_is_the_next_batch():
    gate = threading.Event()
    run = Recorder(gate)
    batcher = Batcher(run, Batching(max_batch=32, wait_ms=0))
    first = batcher.submit(0)
    while batcher._groups:  # until the worker has taken it (and is held in the call)
        time.sleep(0.001)
    rest = [batcher.submit(i) for i in range(1, 6)]
    gate.set()
    assert first.result(10) == 0 and [f.result(10) for f in rest] == [2, 4, 6, 8, 10]
    assert [values for values, _ in run.calls] == [[0], [1, 2, 3, 4, 5]]
    batcher.close()


def test_only_identical_options_share_a_call():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=2, wait_ms=2000))
    futures = [batcher.submit(1), batcher.submit(2, {"top_g": 1}), batcher.submit(3, {}),
               batcher.submit(4, {"top_g": 1})]
    assert [f.result(10) for f in futures] == [2, 4, 6, 8]
    assert sorted(run.calls, key=lambda c: c[0]) == [([1, 3], {}), ([2, 4], {"top_g": 1})]
    batcher.close()


def test_a_full_batch_does_not_wait_behind_an_older_one_of_other_options():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=2, wait_ms=1000))
    alone = batcher.submit(1)
    full = [batcher.submit(2, {"top_g": 1}), batcher.submit(3, {"top_g": 1})]
    assert [f.result(0.8) for f in full] == [4, 6]  # before the older request's window has ended
    assert not alone.done()
    assert alone.result(10) == 2
    assert run.calls == [([2, 3], {"top_g": 1}), ([1], {})]
    batcher.close()


def test_one_bad_input_fails_alone():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=3, wait_ms=2000))
    futures = [batcher.submit(v) for v in ("a", "bad", "c")]
    assert futures[0].result(10) == "aa" and futures[2].result(10) == "cc"
    with pytest.raises(UserError, match="bad input"):
        futures[1].result(10)
    # the batch, then each input alone: only "bad" got the error
    assert [values for values, _ in run.calls] == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    batcher.close()


def test_a_call_with_the_wrong_number_of_answers_is_an_error_for_each():
    batcher = Batcher(lambda values: values[:1], Batching(max_batch=2, wait_ms=2000))
    futures = [batcher.submit(1), batcher.submit(2)]
    assert futures[0].result(10) == 1  # alone, one answer for one input is right
    assert futures[1].result(10) == 2
    batcher.close()
    silent = Batcher(lambda values: [], Batching(max_batch=1))
    with pytest.raises(RuntimeError, match="a batch of 1 inputs got 0 answers"):
        silent.submit(1).result(10)
    silent.close()


def test_a_cancelled_request_is_not_run_and_close_answers_what_is_queued():
    run = Recorder()
    batcher = Batcher(run, Batching(max_batch=32, wait_ms=5000))
    kept, dropped = batcher.submit(1), batcher.submit(2)
    assert dropped.cancel()
    batcher.close()  # does not wait out the window: what is queued is run now
    assert kept.result(0) == 2 and run.calls == [([1], {})]
    assert batcher.submit(5).result(10) == 10  # a submit after close starts a new worker
    batcher.close()


def test_batching_settings_are_checked():
    with pytest.raises(ValueError):
        Batching(max_batch=0)
    with pytest.raises(ValueError):
        Batching(wait_ms=-1)


# ---------------------------------------------------------------- the server: batched answers = unbatched


# How far a batched answer's floats may be from the unbatched ones. A batch changes only the order of fp32
# sums: padding to the batch's longest input adds masked steps, and matrix products are blocked by batch
# size. Each operation then moves a value by an ulp or so (rel_tolerance("fp32") = 2^-23), compounded over
# the layers and steps of a short sequence, forward and back for gradient x input influences: measured
# at most 60 ulps (7.2e-6 relative, an influence) on the intent bundle here; we allow 1000 ulps (1.2e-4),
# as another CPU's kernels block sums differently. Probabilities and surprises are also rounded to 6
# decimals, so two values a hair apart can land one rounding step (1e-6) apart: that is the absolute part.
# A batching bug (answers swapped, options mixed) moves them by far more, and labels are compared exactly.
REL, ABS = 1000 * rel_tolerance("fp32"), 1e-6


def close(got, want, path="") -> None:
    """`got` equals `want`: strings, labels, ints and bools exactly; floats within ABS + REL * |want|."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), path
        for k in want:
            close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and abs(got - want) <= ABS + REL * abs(want), (path, got, want)
    else:
        assert got == want, (path, got, want)


class Spy:
    """task.predict wrapped to record the size and options of each call."""

    def __init__(self, task, monkeypatch):
        self.sizes: list[int] = []
        self.options: list[dict] = []
        inner = task.predict

        def predict(model, inputs, **options):
            self.sizes.append(len(inputs))
            self.options.append(options)
            return inner(model, inputs, **options)

        monkeypatch.setattr(task, "predict", predict)


def post_all(app, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """POST every (url, json) at once on one event loop (the app's batcher sees them together)."""
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            return await asyncio.gather(*(http.post(url, json=body) for url, body in requests))

    return asyncio.run(go())


def unbatched(predictor, value, **options):
    with torch.no_grad():
        return predictor.task.predict(predictor.model, [value], **options)[0]


# ragged: 1 to 9 words, known and unknown ones
INTENT_TEXTS = ["what time is it?", "play", "set an alarm for seven am tomorrow morning please now",
                "will it rain", "zzz qqq", "what's the weather like in paris", "wake me up at six thirty",
                "jazz"]


def test_intent_batched_answers_equal_unbatched(intent_bundle, monkeypatch):
    predictor = rnnlab.load(intent_bundle)
    want = [unbatched(predictor, t) for t in INTENT_TEXTS]
    spy = Spy(predictor.task, monkeypatch)
    app = create_app(predictor, batching=Batching(max_batch=len(INTENT_TEXTS), wait_ms=5000))
    responses = post_all(app, [("/predict", {"text": t}) for t in INTENT_TEXTS])
    assert [r.status_code for r in responses] == [200] * len(INTENT_TEXTS)
    assert spy.sizes == [len(INTENT_TEXTS)]  # one call answered all: full before the window ended
    for r, w in zip(responses, want):
        close(r.json(), w)
        assert r.json()["answer"]["label"] == w["answer"]["label"]
    app.state.served.batcher.close()


def test_ten_requests_with_max_batch_four_take_three_calls(intent_bundle, monkeypatch):
    predictor = rnnlab.load(intent_bundle)
    spy = Spy(predictor.task, monkeypatch)
    app = create_app(predictor, batching=Batching(max_batch=4, wait_ms=1000))
    texts = [INTENT_TEXTS[i % len(INTENT_TEXTS)] for i in range(10)]
    responses = post_all(app, [("/predict", {"text": t}) for t in texts])
    assert [r.status_code for r in responses] == [200] * 10
    assert [r.json()["text"] for r in responses] == texts  # each request its own answer
    assert sum(spy.sizes) == 10 and len(spy.sizes) >= 3 and max(spy.sizes) <= 4
    app.state.served.batcher.close()


def test_bad_requests_get_their_4xx_and_the_others_their_answers(intent_bundle, monkeypatch):
    predictor = rnnlab.load(intent_bundle)
    good = ["what time is it?", "play some jazz", "will it rain"]
    want = {t: unbatched(predictor, t) for t in good}
    spy = Spy(predictor.task, monkeypatch)
    app = create_app(predictor, batching=Batching(max_batch=3, wait_ms=5000))
    requests = [("/predict", {"text": good[0]}), ("/predict", {"text": "   "}),  # empty: 422 before batching
                ("/predict", {"text": good[1]}), ("/predict?beam=3", {"text": good[2]}),  # no such option: 422
                ("/predict", {"txt": "x"}), ("/predict", {"text": good[2]})]  # a misspelt key: 422
    responses = post_all(app, requests)
    assert [r.status_code for r in responses] == [200, 422, 200, 422, 422, 200]
    assert "text is empty" in responses[1].json()["error"] and "no option beam" in responses[3].json()["error"]
    assert spy.sizes == [3]  # the three good ones, together; the bad ones never reached the model
    for r in (responses[0], responses[2], responses[5]):
        close(r.json(), want[r.json()["text"]])
    app.state.served.batcher.close()


def test_an_input_the_model_refuses_fails_alone(intent_bundle, monkeypatch):
    """An input that passes the request checks but makes the model call raise (a UserError: the client's
    fault) gets its 422; the others in its batch are answered, one call each, as before batching."""
    predictor = rnnlab.load(intent_bundle)
    task = predictor.task
    inner = task.predict
    sizes = []

    def predict(model, inputs, **options):
        sizes.append(len(inputs))
        if "poison" in inputs:
            raise UserError("the model refuses 'poison'")
        return inner(model, inputs, **options)

    monkeypatch.setattr(task, "predict", predict)
    app = create_app(predictor, batching=Batching(max_batch=3, wait_ms=5000))
    responses = post_all(app, [("/predict", {"text": t}) for t in ("play some jazz", "poison", "will it rain")])
    assert [r.status_code for r in responses] == [200, 422, 200]
    assert responses[1].json() == {"error": "the model refuses 'poison'"}
    assert [r.json()["text"] for r in (responses[0], responses[2])] == ["play some jazz", "will it rain"]
    assert sizes == [3, 1, 1, 1]
    app.state.served.batcher.close()


def test_trace_answers_beside_batches(intent_bundle):
    """/trace and /predict requests arriving together: each batched with its own kind, under one model lock."""
    app = create_app(intent_bundle, batching=Batching(max_batch=8, wait_ms=20))
    responses = post_all(app, [("/trace" if i % 2 else "/predict", {"text": t}) for i, t in enumerate(INTENT_TEXTS)])
    assert [r.status_code for r in responses] == [200] * len(INTENT_TEXTS)
    assert all("layers" in r.json() for r in responses[1::2])
    app.state.served.batcher.close()


@pytest.mark.parametrize("which", ["intent_bundle", "gru_bundle"])
def test_traces_are_batched_into_one_pass_and_equal_unbatched(which, request, monkeypatch):
    """Ragged traces in one glass-engine pass (Task.trace_many): each sequence's states and gates are the ones
    it gets alone, cut to its own steps; a bad request gets its 4xx and never joins the batch."""
    predictor = rnnlab.load(request.getfixturevalue(which))
    want = [predictor.trace(t) for t in INTENT_TEXTS]
    sizes = []
    inner = predictor.task.trace_many

    def trace_many(model, inputs):
        sizes.append(len(inputs))
        return inner(model, inputs)

    monkeypatch.setattr(predictor.task, "trace_many", trace_many)
    app = create_app(predictor, batching=Batching(max_batch=len(INTENT_TEXTS), wait_ms=5000))
    responses = post_all(app, [("/trace", {"text": t}) for t in INTENT_TEXTS] + [("/trace", {"text": " "})])
    assert [r.status_code for r in responses] == [200] * len(INTENT_TEXTS) + [422]
    assert sizes == [len(INTENT_TEXTS)]
    for r, w in zip(responses, want):
        got = r.json()
        assert [len(layer["h"]) for layer in got["layers"]] == [len(w["tokens"])] * len(w["layers"])
        close(got, w)
    app.state.served.batcher.close()


@pytest.fixture(scope="module")
def logs_predictor(tmp_path_factory):
    """A tiny trained LSTM next-event model on sessions of a small grammar (a few seconds on one core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("batching-logs")
    rng = random.Random(0)
    sessions = ["1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 3))) + " 6"
                for _ in range(120)]
    (tmp / "train.txt").write_text("\n".join(sessions) + "\n")
    cfg = load_config(None, ["task=log_anomaly", f"run_dir={tmp / 'run'}", f"data.train={tmp / 'train.txt'}",
                             "model.window=4", "model.top_g=2", "model.hidden_size=16", "model.embed_size=8",
                             "train.epochs=10", "train.batch_size=16", "train.lr=0.01", "train.progress=false"])
    try:
        train(cfg, echo=None, command="tests/studio/test_batching.py")
    finally:
        torch.set_num_threads(threads)
    return rnnlab.load(tmp / "run" / "bundle")


# ragged sessions: 2 to 12 events, an unknown event (9), with and without a session id
SESSIONS = ["1 2 3 4 6", "1 6", "blk_1,1 2 3 4 9 6", "1 2 3 5 3 4 3 5 3 4 3 6", "2 1", "1 2 3 4 3 5 6"]


def test_log_anomaly_batched_answers_equal_unbatched_per_options(logs_predictor, monkeypatch):
    """Ragged sessions under two decode options at once: only requests with identical options share a call,
    and each answer equals the unbatched one under its own options."""
    queries = ["", "?top_g=1", "?rankings=false"]
    options = [{}, {"top_g": 1}, {"rankings": False}]
    want = {(s, q): unbatched(logs_predictor, s, **o) for s in SESSIONS for q, o in zip(queries, options)}
    spy = Spy(logs_predictor.task, monkeypatch)
    app = create_app(logs_predictor, batching=Batching(max_batch=len(SESSIONS), wait_ms=5000))
    requests = [(f"/predict{q}", {"text": s}) for q in queries for s in SESSIONS]
    responses = post_all(app, requests)
    assert [r.status_code for r in responses] == [200] * len(requests)
    assert spy.sizes == [len(SESSIONS)] * 3  # one call per set of options, every session in it
    assert sorted(map(str, spy.options)) == sorted(map(str, options))
    for (url, body), r in zip(requests, responses):
        w = want[(body["text"], url.removeprefix("/predict"))]
        close(r.json(), w)
        assert [s["rank"] for s in r.json()["steps"]] == [s["rank"] for s in w["steps"]]
    assert want[("blk_1,1 2 3 4 9 6", "")]["answer"]["label"] == "abnormal"  # the sessions are not all alike
    app.state.served.batcher.close()


# ---------------------------------------------------------------- the CLI flags


def test_serve_flags_reach_the_app(intent_bundle, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    monkeypatch.setattr(serve_cli, "check_port", lambda host, port: None)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.update(threads=n))
    monkeypatch.setattr(serve_cli, "default_threads", lambda: 3)
    assert cli_main(["serve", str(intent_bundle), "--max-batch", "4", "--batch-wait-ms", "0.5"]) == 0
    assert seen["app"].state.batching == Batching(max_batch=4, wait_ms=0.5) and seen["threads"] == 3
    assert cli_main(["serve", str(intent_bundle), "--threads", "2"]) == 0
    assert seen["app"].state.batching == Batching() and seen["threads"] == 2


@pytest.mark.parametrize("flags, message", [(["--max-batch", "0"], "--max-batch 0: give at least 1"),
                                            (["--batch-wait-ms", "-1"], "--batch-wait-ms -1: give 0 to 1000"),
                                            (["--batch-wait-ms", "nan"], "--batch-wait-ms nan: give 0 to 1000"),
                                            (["--threads", "0"], "--threads 0: give at least 1")])
def test_bad_serve_flags_are_one_line(intent_bundle, capsys, flags, message):
    assert cli_main(["serve", str(intent_bundle), *flags]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize("cpus, torch_threads, want", [(1, 1, 1), (2, 2, 1), (4, 4, 3), (16, 8, 4), (16, 2, 2)])
def test_default_threads_leave_a_cpu_to_the_server(monkeypatch, cpus, torch_threads, want):
    monkeypatch.setattr(serve_cli.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: torch_threads)
    assert serve_cli.default_threads() == want
