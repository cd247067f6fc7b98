"""Dynamic batching of model calls, as Triton's dynamic batcher and Ray Serve's @serve.batch do.

Requests that arrive close together are answered by ONE call of the model on the list of their inputs:

    request 1 ──┐ submit(x1, {})      ┌─ wait window: until the oldest waiting request has waited
    request 2 ──┤ submit(x2, {})      │  `wait_s`, or `max_batch` requests with the same options wait
    request 3 ──┘ submit(x3, {})      └─> run([x1, x2, x3], {}) -> [y1, y2, y3], one answer each
    request 4 ──  submit(x4, {"beam": 5})  -> another batch: only identical options share a call

One worker thread makes every call, so calls never overlap (N waiting requests never run N copies of torch's
thread pool at once); while it runs a batch the next requests queue, so under load batches fill by
themselves and the wait window only matters when the server is nearly idle. `wait_s=0` takes whatever is
queued when the worker is free (no added latency); `max_batch=1` is unbatched serving.

Per-request errors: the inputs are parsed and checked per request before they are submitted, so a batch
holds only inputs that passed. Should the call still fail (an input the checks let through), the batch is
run again one input at a time: the input at fault gets its own error and the others their answers, never
one request's error for all.

Why a worker thread and not an asyncio task: the model call holds no event loop (torch releases the GIL in
its kernels), so the server keeps reading requests and writing answers while a batch runs.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Run = Callable[..., list[Any]]  # run(inputs, **options) -> one answer per input, in order


@dataclass(frozen=True)
class Batching:
    """How /predict requests are batched (`rnnlab serve --max-batch --batch-wait-ms`)."""

    max_batch: int = 32  # requests answered by one model call at most (1: no batching)
    wait_ms: float = 2.0  # how long the oldest waiting request waits for others to join its batch

    def __post_init__(self):
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if not self.wait_ms >= 0:
            raise ValueError(f"wait_ms must be at least 0, got {self.wait_ms}")


@dataclass
class _Waiting:
    value: Any
    arrived: float  # time.monotonic()
    future: Future = field(default_factory=Future)


def _key(options: dict[str, Any]) -> tuple:
    """Options as a key: requests share a batch only when every option and value is the same."""
    return tuple(sorted(options.items()))


class Batcher:
    """Collects submitted inputs into batches and answers each with its own result (see the module doc).

    `run(inputs, **options)` is called from the worker thread only; `lock`, when given, is held around each
    call, so other model calls (a trace, an upload) made under the same lock never overlap a batch."""

    def __init__(self, run: Run, settings: Batching = Batching(), lock: threading.Lock | None = None):
        self.run, self.settings = run, settings
        self.lock = lock or threading.Lock()
        self._cond = threading.Condition()
        self._groups: dict[tuple, tuple[dict[str, Any], list[_Waiting]]] = {}  # options key -> (options, queue)
        self._worker: threading.Thread | None = None
        self._closing = False

    # ---- callers

    def submit(self, value: Any, options: dict[str, Any] | None = None) -> Future:
        """Queue one input; the future holds its answer, or the exception its call raised."""
        options = dict(options or {})
        waiting = _Waiting(value, time.monotonic())
        with self._cond:
            if self._worker is None or not self._worker.is_alive():  # started on first use, or after close()
                self._closing = False
                self._worker = threading.Thread(target=self._work, name="rnnlab-batcher", daemon=True)
                self._worker.start()
            self._groups.setdefault(_key(options), (options, []))[1].append(waiting)
            self._cond.notify()
        return waiting.future

    async def answer(self, value: Any, options: dict[str, Any] | None = None) -> Any:
        """`submit` for a coroutine: awaits the answer without holding a thread."""
        return await asyncio.wrap_future(self.submit(value, options))

    def close(self, timeout: float | None = 10.0) -> None:
        """Answer what is queued, then stop the worker (a later submit starts a new one)."""
        with self._cond:
            worker, self._closing = self._worker, True
            self._cond.notify()
        if worker is not None:
            worker.join(timeout)

    # ---- the worker

    def _next_batch(self) -> tuple[dict[str, Any], list[_Waiting]] | None:
        """Block until a batch is due, and take it: the group (one set of options) of the oldest waiting
        request once that request has waited the window, else any full group (a full batch gains nothing by
        waiting), else wait for the first of these; everything at once when closing. None: closed and
        nothing left. Taking the overdue oldest group first means no set of options waits for ever behind
        full batches of another."""
        wait_s, most = self.settings.wait_ms / 1000, self.settings.max_batch
        with self._cond:
            while True:
                if not self._groups:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                key = min(self._groups, key=lambda k: self._groups[k][1][0].arrived)
                due = self._groups[key][1][0].arrived + wait_s - time.monotonic()
                if due > 0 and not self._closing:
                    key = next((k for k, (_, queue) in self._groups.items() if len(queue) >= most), None)
                if key is None:
                    self._cond.wait(due)
                    continue
                options, queue = self._groups[key]
                batch = queue[:most]
                del queue[:len(batch)]
                if not queue:
                    del self._groups[key]
                # a request whose client left (its future cancelled) is not run; the rest can no longer be
                batch = [w for w in batch if w.future.set_running_or_notify_cancel()]
                if batch:
                    return options, batch

    def _work(self) -> None:
        while (due := self._next_batch()) is not None:
            options, batch = due
            self._answer(batch, options)

    def _answer(self, batch: list[_Waiting], options: dict[str, Any]) -> None:
        try:
            answers = self._call([w.value for w in batch], options)
        except Exception as e:
            if len(batch) == 1:
                batch[0].future.set_exception(e)
                return
            for waiting in batch:  # one at a time: only the input at fault gets the error
                self._answer([waiting], options)
            return
        for waiting, result in zip(batch, answers):
            waiting.future.set_result(result)

    def _call(self, values: list[Any], options: dict[str, Any]) -> list[Any]:
        with self.lock:
            answers = self.run(values, **options)
        if len(answers) != len(values):  # a task bug, not any one request's
            raise RuntimeError(f"a batch of {len(values)} inputs got {len(answers)} answers")
        return list(answers)
