"""The studio server: one trained bundle behind a small HTTP API, and the page that shows its memory.

    GET  /          the studio page (static/index.html, studio.css, studio.js: no build step, no CDN)
    GET  /health    {"status": "ok", "task": ...}: the model is loaded and answering
    GET  /model     the model card: task, description, config, metrics, limits (nothing of the machine:
                    no paths, run_dir or training command; a data file is shown by its name)
    POST /predict   {"text": "..."} -> the task's prediction for that input (Task.predict); the task's decode
                    options (the card's "options", Task.options) as query parameters: /predict?beam=5
    POST /trace     {"text": "..."} -> per-token hidden states, gates, predictions and influences
                    (Task.trace; the page draws this)
    POST /upload    a file's bytes as the body, `?name=FILE` -> what the task makes of a file of its input kind
                    (Task.input_kind, Task.parse_bytes): a recording for speech, a CSV for a forecast, lines of
                    text or sessions; one input answers its trace (its prediction when decode options are given
                    as query parameters, as for /predict), several answer
                    {"items": [{"name", "prediction"}]}. The card's "input" is the task's input kind.
                    A multipart form holding one file (`curl -F file=@a.wav`) is read the same (studio.multipart).
                    (/audio is the same endpoint under the name it had first.)
    GET  /docs      OpenAPI documentation (FastAPI's)

The server knows nothing about any one task: it parses the request, checks the limits, and calls the
task's `parse_input` / `parse_bytes`, `input_length`, `predict` and `trace` (rnnlab.tasks.base). Everything a user can
get wrong answers 4xx with {"error": "<one line>"}; anything else answers 500 with the same shape and
the server keeps serving (it never dies on a request).

Limits (`Limits`), all checked before the model runs:
  - body size: 413, from Content-Length and again while the body streams in (a client can lie about
    Content-Length or send chunked bodies without one); a body that is not UTF-8: 400; /upload has its own
    limit (max_audio_bytes: a file, e.g. a recording, is larger than any sentence) and is not UTF-8-checked;
  - a recording's duration (max_audio_seconds): 422; the inputs in one upload (max_upload_items): 422;
  - text length in characters and input length in tokens (as the task counts them): 422; so is text
    that is not Unicode (a lone surrogate such as "\\ud800", which JSON can spell but UTF-8 cannot).

Hosts: only requests whose Host header names this server are answered (400 otherwise): the loopback
names by default, more with `allowed_hosts` (`rnnlab serve --allow-host`). Without this a web page
could reach a loopback server through DNS rebinding (its own name re-pointed at 127.0.0.1).

Concurrency: /predict is batched dynamically (studio.batching, as Triton's and Ray Serve's dynamic
batching): each request is parsed and checked on its own (a bad one answers its own 4xx and never joins
a batch), then waits at most `Batching.wait_ms` for others with the same decode options, and up to
`Batching.max_batch` of them are answered by ONE task.predict call on their list, each request getting its
own answer (`rnnlab serve --batch-wait-ms --max-batch`). Every model call, batched or not, holds one lock,
so calls never overlap and N waiting requests never run N copies of torch's thread pool at once.
/trace is batched the same way, by a second batcher under the same lock: Task.trace_many answers the waiting
traces from one pass where the task can read a padded batch (intent: the glass engine with each sequence's
length, each cut to its own steps), one at a time otherwise. /upload's calls run under the lock unbatched (an
upload of several inputs is one task.predict call already). `rnnlab serve --threads` sets torch's intra-op
threads, and onnxruntime's for an export (default: fitted to the machine, see cli/serve.py). Parsing, limits
and JSON encoding run outside the lock.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnlab.config import to_dict
from rnnlab.errors import UserError
from rnnlab.readers.lines import check_line
from rnnlab.studio import multipart
from rnnlab.studio.batching import Batcher, Batching

log = logging.getLogger("rnnlab.studio")
UPLOAD_PATHS = ("/upload", "/audio")  # one endpoint; /audio is its first name
STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. Defaults suit sentences and short paragraphs on a small CPU."""

    max_body_bytes: int = 16 * 1024  # whole request body (JSON): 413 above this
    max_chars: int = 2000  # characters of "text": 422 above this
    max_tokens: int = 256  # input length as the task counts it (words, characters): 422 above this
    max_audio_bytes: int = 20 * 1024 * 1024  # body of /upload (a recording, a file of inputs): 413 above this
    max_audio_seconds: float = 60.0  # a recording's duration: 422 above this
    max_upload_items: int = 100  # inputs in one uploaded file (lines, sessions): 422 above this


class TextIn(BaseModel):
    """The body of /predict and /trace."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key ("txt") is an error, not an empty request
    text: str = Field(description="the input, e.g. a sentence for an intent model", examples=["what time is it?"])


class ApiError(Exception):
    """An error the client caused: answered as {"error": message} with this status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class FastJSON(JSONResponse):
    """A JSON response encoded by orjson (in C; a /predict answer of per-token rankings is several kilobytes, and
    the json module plus FastAPI's encoder took a third of the server's CPU per request). orjson writes NaN and
    inf as null: a prediction holds neither (the tasks refuse non-finite output), so nothing changes for it."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


_SEND_JSON = "send {\"text\": \"...\"} as UTF-8 with Content-Type: application/json"


# ---------------------------------------------------------------- allowed hosts (pure ASGI)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(value: str) -> str:
    """The host of a Host header (or an --allow-host value), lowercased, without port or brackets:
    "[::1]:8000" -> "::1", "LocalHost:8000" -> "localhost", "::1" (a bare IPv6 address) -> "::1"."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    return value.split(":")[0] if value.count(":") == 1 else value


class HostCheck:
    """Answer only requests whose Host header is one of `allowed` (any port); 400 for the rest.

    DNS rebinding: a page on evil.example re-points its name at 127.0.0.1, and the browser then lets it
    read this server's answers as same-origin. The Host header still says evil.example, so refusing
    names this server does not serve closes that door. (No websockets here: only http is checked.)
    """

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]):
        self.app, self.allowed = app, frozenset(host_name(h) for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            values = [v for k, v in scope["headers"] if k == b"host"]
            name = host_name(values[0].decode("latin-1")) if len(values) == 1 else ""
            if len(values) != 1 or name not in self.allowed:  # two Host headers: which one to trust?
                served = ", ".join(f"[{h}]" if ":" in h else h for h in sorted(self.allowed))
                problem = (f"Host {name!r} is not served here" if len(values) == 1
                           else "no Host header" if not values else "more than one Host header")
                await _error(400, f"{problem}: this server answers {served}; to serve another name, start it "
                                  "with rnnlab serve --allow-host NAME")(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- body size limit (pure ASGI)


class BodyLimit:
    """Reject request bodies larger than `max_bytes` with 413, and bodies that are not UTF-8 with 400,
    before the app sees them.

    A declared Content-Length over the limit is rejected at once. Otherwise the body is read here
    (at most max_bytes + one chunk) and replayed to the app, so a missing or false Content-Length
    (chunked uploads) cannot get a large body past the limit. JSON is UTF-8 (RFC 8259); checking it
    here, where the whole body is at hand, gives the client the byte at fault rather than FastAPI's
    generic "There was an error parsing the body".
    """

    def __init__(self, app: ASGIApp, max_bytes: int, raw: dict[str, int] | None = None):
        # raw: paths whose bodies are binary (uploads), each with its own limit and no UTF-8 check
        self.app, self.max_bytes, self.raw = app, max_bytes, dict(raw or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("path") in self.raw
        limit = self.raw[scope["path"]] if raw else self.max_bytes
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _error(400, "invalid Content-Length header")(scope, receive, send)
                return
            if size > limit:
                await self._too_large(scope, receive, send, limit, raw)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                await self._too_large(scope, receive, send, limit, raw)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            if not raw:
                body.decode("utf-8")
        except UnicodeDecodeError as e:
            await _error(400, f"request body is not valid UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start}); "
                              f"{_SEND_JSON}")(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int, raw: bool) -> None:
        what = "upload too large" if raw else "request body too large"
        await _error(413, f"{what}: the limit is {limit} bytes")(scope, receive, send)


# ---------------------------------------------------------------- what is served


class Served:
    """One loaded bundle: the task, its model, the card; model calls serialised by a lock, /predict's batched."""

    def __init__(self, predictor: Any, batching: Batching = Batching()):
        self.predictor = predictor
        self.task, self.model = predictor.task, predictor.model
        self.model.eval()
        self.lock = threading.Lock()
        self.batcher = Batcher(self._predict_batch, batching, self.lock)  # its calls hold self.lock
        self.trace_batcher = Batcher(self._trace_batch, batching, self.lock)  # /trace's, under the same lock
        # tracing is optional in the Task interface: the page falls back to /predict without it
        self.can_trace = predictor.can_trace
        # what one input is (Task.input_kind): a recording, a CSV series, a line of text; what /upload reads
        self.input_kind = self.task.input_kind
        self.audio = self.input_kind == "audio"
        self.files = self.input_kind in ("audio", "image")  # inputs are files: only /upload takes them

    def card(self) -> dict[str, Any]:
        """The model card as JSON: what a visitor needs to judge the model (task, what it does, its
        config and metrics, a one-line summary), and nothing of the machine that serves it: no bundle
        path, no run_dir, no training command (so not the bundle's README.md, which records it), and
        data files by their names only."""
        p = self.predictor
        config = to_dict(p.config)
        public = {k: _without_paths(config[k]) for k in ("task", "model", "data", "train") if k in config}
        doc = (type(self.task).__doc__ or "").strip()
        return {"task": self.task.name, "description": doc.splitlines()[0] if doc else "",
                "summary": _summary(self.task, config, p.metrics), "can_trace": self.can_trace,
                "runtime": p.runtime, "input": self.input_kind,
                "options": [{"name": o.name, "type": o.kind.__name__, "help": o.help} for o in self.task.options],
                "config": public, "metrics": p.metrics}

    def parse(self, text: str, limits: Limits) -> Any:
        """Validate the text against the limits and turn it into the task's input."""
        if self.files:
            # an audio or image task's parse_input reads a path: from a client that would be a file of this machine
            what, example = ("recordings", "FILE.wav") if self.audio else ("photos", "FILE.jpg")
            raise ApiError(400, f"this {self.task.name} model reads {what}, not text: POST the file's bytes "
                                f"to /upload?name={example}")
        if not text.strip():
            raise ApiError(422, "text is empty: send a non-empty string, e.g. {\"text\": \"what time is it?\"}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:  # JSON's "\ud800" parses to a str the UTF-8 reply cannot echo back
            raise ApiError(422, f"text is not valid Unicode: a lone surrogate \\u{ord(text[e.start]):04x} at "
                                f"character {e.start + 1}; surrogates come in pairs "
                                "(\\ud83d\\ude00 is one emoji)") from None
        if len(text) > limits.max_chars:
            raise ApiError(422, f"text too long: {len(text)} characters, the limit is {limits.max_chars}")
        if self.input_kind == "text":  # the check of a line of text every verb makes (a UserError: 422)
            check_line(text, "text", count=lambda t: self.task.input_length(self.task.parse_input(t)))
        value = self.task.parse_input(text)
        n = self.task.input_length(value)
        if n > limits.max_tokens:
            raise ApiError(422, f"too many tokens: {n}, the limit is {limits.max_tokens}")
        return value

    def parse_upload(self, data: bytes, name: str, limits: Limits) -> list[tuple[str, Any]]:
        """An upload's bytes -> [(name, input)] by the task's own reader (Task.parse_bytes), each within the limits
        (a DataError naming the upload is the client's: 422)."""
        items = self.task.parse_bytes(data, name)
        if not items:
            raise ApiError(422, f"{name}: no input in the file (an empty file, or only blank lines)")
        if len(items) > limits.max_upload_items:
            raise ApiError(422, f"{name}: {len(items)} inputs, the limit is {limits.max_upload_items} per upload")
        for item_name, value in items:
            samples, rate = getattr(value, "samples", None), getattr(value, "sample_rate", None)
            if samples is not None and rate:  # a recording: its duration is the limit that matters
                seconds = len(samples) / rate
                if seconds > limits.max_audio_seconds:
                    raise ApiError(422, f"{item_name}: recording too long: {seconds:.1f} s, the limit is "
                                        f"{limits.max_audio_seconds:g} s")
            elif (n := self.task.input_length(value)) > limits.max_tokens:
                raise ApiError(422, f"{item_name}: too many tokens: {n}, the limit is {limits.max_tokens}")
        return items

    # Under no_grad, not inference_mode: tasks that report per-token influences (gradient x input)
    # switch autograd back on locally with torch.enable_grad(), which works inside no_grad but not
    # inside inference_mode (whose tensors can never join a graph).
    def predict(self, value: Any, **options: Any) -> dict[str, Any]:
        """One input's prediction, in a batch with whatever else is waiting (blocks this thread)."""
        return self.batcher.submit(value, options).result()

    def _predict_batch(self, values: list[Any], **options: Any) -> list[dict[str, Any]]:
        # the batcher's worker thread, under self.lock; no_grad is per thread, so it is set here
        with torch.no_grad():
            return self.predictor.run(values, **options)  # PyTorch, or an export's graphs

    def predict_many(self, values: list[Any], **options: Any) -> list[dict[str, Any]]:
        with self.lock, torch.no_grad():
            return self.predictor.run(values, **options)

    def options(self, query: dict[str, str], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """The query parameters of a request as the task's decode options (`/predict?beam=5`), checked as the
        CLI checks `--option`: an option the task does not take, or a bad value, is the client's fault (422)."""
        try:
            return self.task.check_options({k: v for k, v in query.items() if k not in skip},
                                           called={k: f"query parameter {k}" for k in query})
        except UserError as e:
            raise ApiError(422, str(e)) from None

    def trace(self, value: Any) -> dict[str, Any]:
        """One input's trace, in a batch with the other traces waiting (blocks this thread)."""
        return self.trace_batcher.submit(value).result()

    def check_trace(self) -> None:
        """Before a trace is queued: one 422 line where there is no trace to give (a task without one, an export)."""
        try:
            self.predictor.check_trace()
        except UserError as e:
            raise ApiError(422, str(e)) from None

    def _trace_batch(self, values: list[Any]) -> list[dict[str, Any]]:
        # the trace batcher's worker thread, under self.lock; no_grad is per thread, so it is set here
        with torch.no_grad():
            return self.predictor.trace_many(values)


def _summary(task: Any, config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """e.g. "intent · cell lstm, hidden_size 128, num_layers 1 · test accuracy 0.953" (any task's config)."""
    model = config.get("model") or {}
    shape = ", ".join(f"{k} {v}" for k, v in model.items() if k in _SHAPE_KEYS)
    parts = [task.name] + ([shape] if shape else [])
    for split in ("test", "valid"):
        value = (metrics.get(split) or {}).get(task.metric)
        if isinstance(value, (int, float)):
            parts.append(f"{split} {task.metric} {value:.3f}")
            break
    return " · ".join(parts)


_SHAPE_KEYS = ("cell", "hidden_size", "hidden", "num_layers", "layers", "bidirectional")


def _without_paths(value: Any) -> Any:
    """A config section with every file path cut to its last part ("/home/ana/snips/train" -> "train"):
    the data a model was trained on is worth showing, the layout of the machine is not. Shipped data
    ("package:demo_intents/train.jsonl") names no machine and stays as it is."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    if isinstance(value, str) and not value.startswith("package:") and re.search(r"[/\\]|^~", value):
        return re.split(r"[/\\]", value.rstrip("/\\"))[-1]
    return value


def _load(bundle: Any, runtime: str | None = None) -> Any:
    if isinstance(bundle, (str, os.PathLike)):
        from rnnlab.runtime import load_predictor

        return load_predictor(bundle, runtime)  # a bundle (torch) or an export directory (onnx)
    return bundle


# ---------------------------------------------------------------- the app


def create_app(bundle: str | os.PathLike | Any, limits: Limits | None = None,
               allowed_hosts: tuple[str, ...] | list[str] = LOOPBACK_HOSTS,
               batching: Batching | None = None, runtime: str | None = None) -> FastAPI:
    """The studio app for a bundle directory (loaded once, here) or an already loaded predictor.

    `allowed_hosts`: the names (and addresses) requests may carry in their Host header, any port; the
    default is this machine's loopback names only (see HostCheck). `batching`: how /predict requests
    are batched (default Batching(): up to 32 per call, 2 ms wait)."""
    limits, batching = limits or Limits(), batching or Batching()
    served = Served(_load(bundle, runtime), batching)
    task_name = served.task.name

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        served.batcher.close()  # what is queued is answered first
        served.trace_batcher.close()

    app = FastAPI(title=f"rnnlab studio: {task_name}",
                  description="Predictions and step-by-step traces of one trained rnnlab model.",
                  version=_version(), lifespan=lifespan)
    app.state.served, app.state.limits, app.state.batching = served, limits, batching
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes,
                       raw={path: limits.max_audio_bytes for path in UPLOAD_PATHS})
    app.add_middleware(HostCheck, allowed=tuple(allowed_hosts))  # added last: runs first

    # ---- errors: always {"error": one line}, never a dead server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return _error(*_describe_validation(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = {404: f"no such endpoint: {request.method} {request.url.path} (see /docs)",
                   405: f"method {request.method} not allowed on {request.url.path} (see /docs)"}
        if exc.status_code == 400 and isinstance(exc.__cause__, Exception):
            # FastAPI could not read the body for a reason other than bad JSON syntax (arrays nested
            # deeper than Python's JSON reader goes): instead of its generic text, ours
            cause = exc.__cause__
            why = "nested too deeply" if isinstance(cause, RecursionError) else type(cause).__name__
            message[400] = f"request body is not valid JSON ({why}); {_SEND_JSON}"
        return _error(exc.status_code, message.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):  # pragma: no cover - see _call
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error: the request failed; the server log has the details")

    def _call(fn, text: str):
        """Check the text, then run the model call; a task's UserError is the client's fault (422),
        anything else is ours (500)."""
        return _call_value(fn, text, parse=True)

    def _call_value(fn, value: Any, parse: bool = False):
        try:
            return fn(served.parse(value, limits) if parse else value)
        except Exception as e:
            raise _api_error(e) from None

    def _api_error(e: Exception) -> ApiError:
        if isinstance(e, ApiError):
            return e
        if isinstance(e, UserError):
            return ApiError(422, str(e))
        # handled here rather than by the Exception handler: Starlette re-raises after that one,
        # which would print a traceback per request and fail TestClient calls
        log.error("model call failed", exc_info=e)
        return ApiError(500, "internal error: the model call failed; the server log has the details")

    # ---- endpoints (sync ones run in FastAPI's threadpool; the lock serialises the model)

    @app.get("/health", summary="Is the model loaded and answering?")
    def health() -> dict[str, Any]:
        return {"status": "ok", "task": task_name}

    @app.get("/model", summary="The model card: task, config, metrics and the bundle's README")
    def model_card() -> dict[str, Any]:
        return {**served.card(), "limits": asdict(limits)}

    @app.post("/predict", summary="The task's prediction for one input; the task's decode options (the card's "
                                  "\"options\") as query parameters, e.g. /predict?beam=5")
    async def predict(body: TextIn, request: Request) -> dict[str, Any]:
        # async: a request waiting for its batch holds no thread. Options and input are checked here, per
        # request (a bad one answers its own 4xx and never joins a batch); then the batcher answers it.
        options = served.options(dict(request.query_params))
        value = _call(lambda value: value, body.text)
        try:
            return FastJSON(await served.batcher.answer(value, options))
        except Exception as e:
            raise _api_error(e) from None

    @app.post("/trace", summary="Per-token hidden states, gates, predictions and influences")
    async def trace(body: TextIn, request: Request) -> dict[str, Any]:
        # batched as /predict is (Task.trace_many: one pass over the padded batch where the task can)
        if request.query_params:  # a trace takes no options: say so rather than ignore them
            raise ApiError(422, f"/trace takes no query parameters, got {', '.join(request.query_params)} "
                                "(decode options go to /predict or /upload)")
        served.check_trace()
        value = _call(lambda value: value, body.text)
        try:
            return FastJSON(await served.trace_batcher.answer(value))
        except Exception as e:
            raise _api_error(e) from None

    async def upload(request: Request, name: str = "") -> dict[str, Any]:
        options = served.options(dict(request.query_params), skip=("name",))  # before the body is decoded
        data = await request.body()  # BodyLimit has read it already, within max_audio_bytes
        if multipart.is_form(request.headers.get("content-type", "")):  # curl -F file=@a.wav: the file in a form
            try:
                form_name, data = multipart.single_file(data, request.headers["content-type"])
            except UserError as e:
                raise ApiError(400, str(e)) from None
            name = name or form_name
        name = _upload_name(name, "upload.wav" if served.audio else "upload")
        if not data:
            raise ApiError(422, f"{name}: empty upload: send the file's bytes as the request body")

        def work() -> dict[str, Any]:
            try:
                items = served.parse_upload(data, name, limits)  # outside the lock: decoding, resampling
            except ApiError:
                raise
            except UserError as e:
                raise ApiError(422, str(e)) from None
            if len(items) == 1 and served.can_trace and not options:  # one input: what the page draws
                return _call_value(served.trace, items[0][1])
            if len(items) == 1:  # a prediction under the options asked for
                return _call_value(lambda value: served.predict(value, **options), items[0][1])
            predictions = _call_value(lambda values: served.predict_many(values, **options),
                                      [v for _, v in items])  # one batch, one lock
            return {"items": [{"name": n, "prediction": p} for (n, _), p in zip(items, predictions)]}

        return FastJSON(await run_in_threadpool(work))

    body = {"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "audio/wav": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                      "format": "binary"}}}}}}}
    app.post("/upload", summary="What the model makes of a file: a recording, a CSV series, lines of inputs",
             openapi_extra=body)(upload)
    app.post("/audio", summary="The same as /upload (its first name, when only recordings were uploaded)",
             openapi_extra=body)(upload)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _upload_name(name: str, fallback: str) -> str:
    """The name an upload is called in messages and predictions: its last path part, printable, at most 100
    characters ("C:\\Users\\ana\\take 1.wav" -> "take 1.wav")."""
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c if c.isprintable() else "?" for c in name).strip()[:100]
    return name or fallback


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """FastAPI's validation errors as (status, one line): 400 for a body that is not JSON, else 422."""
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            return 400, f"request body is not valid JSON{': ' + reason if reason else ''}; {_SEND_JSON}"
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = f"field {'.'.join(loc)!r}" if loc else "body"
        kind = err.get("type", "")
        if kind == "missing":
            parts.append(f"{where} is required")
        elif kind == "extra_forbidden":
            parts.append(f"{where} is not allowed (the only field is 'text')")
        elif kind in ("model_attributes_type", "dict_type") and not loc:
            parts.append("body must be a JSON object like {\"text\": \"what time is it?\"}, "
                         "sent with Content-Type: application/json")
        else:
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return 422, "; ".join(parts) or "invalid request"


def _version() -> str:
    from rnnlab.version import __version__

    return __version__
