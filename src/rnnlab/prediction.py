"""The prediction schema: what every task's `predict` returns, one dict per input, and what the CLI and the
studio render without knowing the task.

Only the fields that mean something for a task are present (a tagger has spans, a language model no tags);
none is ever renamed per task. `check_prediction` is the schema's test (the contract tests run it on every
task's predictions); `format_prediction` the one readable line `rnnlab predict` prints from the schema alone;
`labels` the ranking field from a probability vector.
"""
from __future__ import annotations

import math
from typing import Any, Sequence, TypedDict

import torch


class Label(TypedDict):
    label: str  # a class, a tag, a token: what the model chose or could choose
    probability: float  # in [0, 1]


class Step(TypedDict, total=False):
    token: str  # the input token this step read
    ranking: list[Label]  # the model's guess after reading it, best first (intent so far, next token)
    tag: str  # a tagger's label for this token (BIO), when the task tags
    rank: int  # where this token stood among the model's guesses for it (1 = first guess), when it ranks them
    score: float  # how unexpected this token was (a surprise, -log p in nats; higher = more), finite
    name: str  # what the token stands for, when the model knows (a system call's name for its number: "read")


class Span(TypedDict):
    type: str  # a slot type, an entity type
    start: int  # token indices, end exclusive
    end: int
    text: str


class Influence(TypedDict):
    scores: list[float]  # per input token: how much it pushed the answer (+) or away from it (-)
    method: str  # e.g. "gradient x input"
    target: str  # the answer the scores explain


class Forecast(TypedDict, total=False):
    columns: list[str]  # the forecast columns (required)
    times: list[str]  # one per future step (required)
    steps: list[list[float]]  # one row per future step, one value per column (required)
    lower: list[list[float]]  # the interval's bounds, shaped as steps (probabilistic models)
    upper: list[list[float]]
    interval: float  # the interval's nominal coverage (0.8)
    history_times: list[str]  # the rows the forecast follows, shaped as steps
    history: list[list[float]]


class Word(TypedDict):
    word: str
    start: float  # seconds from the start of the recording
    end: float


class AudioInfo(TypedDict, total=False):
    seconds: float  # the recording's duration (required)
    frame_seconds: float  # time per model step, subsampling included (required)
    steps: int  # how many steps the model ran (required)
    symbols: list[str]  # CTC: the output symbols, the blank first (as "")
    posteriors: list[list[float]]  # CTC: per step, per symbol, p in [0, 1] (steps x symbols)
    best_path: list[int]  # CTC: the most likely symbol per step
    greedy: str  # CTC: the greedy transcript, beside the one the decoder chose
    decoder: str  # "greedy" | "beam"
    words: list[Word]  # word timings from the alignment of the transcript to the steps
    spectrogram: dict  # traces: {values: T x mels in [0, 1], frame_seconds, mels} for drawing


class ImageInfo(TypedDict, total=False):
    width: int  # the photo as given, pixels (required)
    height: int  # (required)
    grid: list[int]  # [rows, columns] of the regions the model attended over, `tokens` row-major (required)
    encoder: str  # the CNN that saw it
    layer: str  # which of its feature maps


class Prediction(TypedDict, total=False):
    task: str  # the task's registry name (required)
    text: str  # the input as given (required)
    tokens: list[str]  # what the model read, one per step (required)
    unknown: list[bool]  # per token: not in the training vocabulary, read as <unk>
    answer: Label  # the decision: an intent, the most likely next token
    answer_kind: str  # what the answer is, in words: "intent", "next character", ...
    ranking: list[Label]  # every candidate answer (or the best few), best first
    steps: list[Step]  # one per token
    spans: list[Span]  # labelled stretches of the input (slots)
    influence: Influence
    sequence: list[str]  # an output sequence (generation, translation)
    scores: dict[str, float]  # other named numbers (an anomaly score, a log-likelihood)
    forecast: Forecast  # future values of a series (forecasting)
    audio: AudioInfo  # what the model heard: a recording's steps, CTC posteriors, word timings (speech)
    image: ImageInfo  # what the model saw: the photo's size and the grid of regions `tokens` names (captioning)


PREDICTION_REQUIRED = ("task", "text", "tokens")
# What a trace may add to the prediction: the recurrent layers' states ("cell", "layers"), and for a sequence to
# sequence task the output pieces ("target_tokens", </s> included when chosen) and where each one looked
# ("attention": one row per target token, one weight per input token), and what else it ranked highest at each
# output step ("alternatives": per target token, labels best first).
TRACE_EXTRAS = ("cell", "layers", "target_tokens", "attention", "alternatives")


def check_prediction(p: Any) -> None:
    """Raise ValueError unless `p` follows the prediction schema (the contract tests call this)."""
    hints = Prediction.__annotations__
    if not isinstance(p, dict):
        raise ValueError(f"a prediction is a dict, got {type(p).__name__}")
    missing = [k for k in PREDICTION_REQUIRED if k not in p]
    unknown = sorted(set(p) - set(hints) - set(TRACE_EXTRAS))
    if missing or unknown:
        raise ValueError(f"prediction fields: missing {missing}, not in the schema {unknown}")
    n = len(p["tokens"])

    def label(x, where):
        if not (isinstance(x, dict) and set(x) == {"label", "probability"} and isinstance(x["label"], str)
                and isinstance(x["probability"], float) and 0.0 <= x["probability"] <= 1.0):
            raise ValueError(f"{where}: a label is {{label: str, probability: float in [0, 1]}}, got {x!r}")

    if not all(isinstance(t, str) for t in p["tokens"]):
        raise ValueError("tokens: strings")
    if "unknown" in p and (len(p["unknown"]) != n or not all(isinstance(u, bool) for u in p["unknown"])):
        raise ValueError("unknown: one bool per token")
    if "answer" in p:
        label(p["answer"], "answer")
    for i, x in enumerate(p.get("ranking", [])):
        label(x, f"ranking[{i}]")
    if "steps" in p:
        if len(p["steps"]) != n:
            raise ValueError(f"steps: one per token ({n}), got {len(p['steps'])}")
        for i, step in enumerate(p["steps"]):
            if set(step) - set(Step.__annotations__) or step.get("token") != p["tokens"][i]:
                raise ValueError(f"steps[{i}]: fields {sorted(step)}; token must be tokens[{i}]")
            for j, x in enumerate(step.get("ranking", [])):
                label(x, f"steps[{i}].ranking[{j}]")
            if "rank" in step and not (isinstance(step["rank"], int) and not isinstance(step["rank"], bool)
                                       and step["rank"] >= 1):
                raise ValueError(f"steps[{i}].rank: an int >= 1, got {step['rank']!r}")
            if "score" in step and not (isinstance(step["score"], float) and math.isfinite(step["score"])):
                raise ValueError(f"steps[{i}].score: a finite float, got {step['score']!r}")
            if "name" in step and not (isinstance(step["name"], str) and step["name"]):
                raise ValueError(f"steps[{i}].name: a non-empty string, got {step['name']!r}")
    for i, span in enumerate(p.get("spans", [])):
        if set(span) != set(Span.__annotations__) or not 0 <= span["start"] < span["end"] <= n:
            raise ValueError(f"spans[{i}]: {{type, start, end, text}} within the tokens, got {span!r}")
    if "attention" in p:
        rows, targets = p["attention"], p.get("target_tokens", p.get("sequence"))
        if not (isinstance(rows, list) and isinstance(targets, list) and len(rows) == len(targets)
                and all(isinstance(t, str) for t in targets)
                and all(isinstance(r, list) and len(r) == n and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in r)
                        for r in rows)):
            raise ValueError(f"attention: one row per target token, one weight in [0, 1] per token ({n})")
    if "alternatives" in p:
        alts, targets = p["alternatives"], p.get("target_tokens", p.get("sequence"))
        if not (isinstance(alts, list) and isinstance(targets, list) and len(alts) == len(targets)):
            raise ValueError("alternatives: one list of labels per target token")
        for i, row in enumerate(alts):
            for j, x in enumerate(row):
                label(x, f"alternatives[{i}][{j}]")
    if "forecast" in p:
        _check_forecast(p["forecast"])
    if "audio" in p:
        _check_audio(p["audio"])
    if "image" in p:
        _check_image(p["image"], n)
    if "influence" in p:
        infl = p["influence"]
        if set(infl) != set(Influence.__annotations__) or len(infl["scores"]) != n \
                or not all(isinstance(v, float) and math.isfinite(v) for v in infl["scores"]):
            raise ValueError("influence: {scores: one finite float per token, method, target}")


def _check_forecast(f: Any) -> None:
    """A forecast: {columns, times, steps} (+ lower / upper / interval, history_times / history), finite values."""
    def table(rows, n_rows, where):
        if not (isinstance(rows, list) and len(rows) == n_rows and all(
                isinstance(r, list) and len(r) == len(f["columns"])
                and all(isinstance(v, float) and math.isfinite(v) for v in r) for r in rows)):
            raise ValueError(f"forecast.{where}: {n_rows} rows of {len(f['columns'])} finite floats")

    if not (isinstance(f, dict) and {"columns", "times", "steps"} <= set(f)
            and not set(f) - set(Forecast.__annotations__)
            and isinstance(f["columns"], list) and all(isinstance(c, str) for c in f["columns"])
            and isinstance(f["times"], list) and all(isinstance(t, str) for t in f["times"])):
        raise ValueError("forecast: {columns, times, steps} (+ lower, upper, interval, history_times, history)")
    for key in ("steps", "lower", "upper"):
        if key in f or key == "steps":
            table(f[key], len(f["times"]), key)
    if ("lower" in f) != ("upper" in f):
        raise ValueError("forecast: lower and upper go together")
    if "interval" in f and not (isinstance(f["interval"], float) and 0.0 < f["interval"] < 1.0):
        raise ValueError("forecast.interval: a coverage in (0, 1)")
    if "history" in f:
        times = f.get("history_times")
        if not (isinstance(times, list) and all(isinstance(t, str) for t in times)):
            raise ValueError("forecast.history_times: strings, one per history row")
        table(f["history"], len(times), "history")


def _check_image(a: Any, n: int) -> None:
    """image: {width, height, grid: [rows, columns]} with rows * columns = the tokens (the regions)."""
    def whole(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if not (isinstance(a, dict) and not set(a) - set(ImageInfo.__annotations__)
            and all(whole(a.get(k)) for k in ("width", "height"))
            and isinstance(a.get("grid"), list) and len(a["grid"]) == 2 and all(whole(v) for v in a["grid"])
            and a["grid"][0] * a["grid"][1] == n):
        raise ValueError(f"image: {{width, height, grid: [rows, columns]}} with rows x columns = the {n} tokens, "
                         f"got {a!r}")


def _check_audio(a: Any) -> None:
    """audio: {seconds, frame_seconds, steps} (+ symbols with posteriors / best_path, words, ...), consistent."""
    def finite(v):
        return isinstance(v, float) and math.isfinite(v) and v >= 0.0

    if not (isinstance(a, dict) and {"seconds", "frame_seconds", "steps"} <= set(a)
            and not set(a) - set(AudioInfo.__annotations__) and finite(a["seconds"]) and finite(a["frame_seconds"])
            and isinstance(a["steps"], int) and a["steps"] >= 0):
        raise ValueError("audio: {seconds, frame_seconds, steps} (+ symbols, posteriors, best_path, greedy, decoder, "
                         "words, spectrogram)")
    n, symbols = a["steps"], a.get("symbols")
    if ("posteriors" in a or "best_path" in a) and not (isinstance(symbols, list)
                                                         and all(isinstance(s, str) for s in symbols)):
        raise ValueError("audio.symbols: strings, needed by posteriors and best_path")
    if "posteriors" in a and not (isinstance(a["posteriors"], list) and len(a["posteriors"]) == n and all(
            isinstance(row, list) and len(row) == len(symbols) and all(finite(v) and v <= 1.0 for v in row)
            for row in a["posteriors"])):
        raise ValueError(f"audio.posteriors: {n} rows (one per step) of one probability per symbol")
    if "best_path" in a and not (isinstance(a["best_path"], list) and len(a["best_path"]) == n and all(
            isinstance(i, int) and 0 <= i < len(symbols) for i in a["best_path"])):
        raise ValueError(f"audio.best_path: {n} symbol ids")
    for i, w in enumerate(a.get("words", [])):
        if not (isinstance(w, dict) and set(w) == {"word", "start", "end"} and isinstance(w["word"], str)
                and finite(w["start"]) and finite(w["end"]) and w["start"] <= w["end"]):
            raise ValueError(f"audio.words[{i}]: {{word, start, end}} with 0 <= start <= end, got {w!r}")


def format_prediction(p: dict[str, Any]) -> str:
    """One readable line from any task's prediction: the answer, the spans in the text, the tags."""
    parts = []
    if "answer" in p:
        parts.append(f"{p.get('answer_kind', 'answer')}: {p['answer']['label']!r} ({p['answer']['probability']:.1%})")
    if p.get("ranking") and len(p["ranking"]) > 1:
        parts.append("then " + ", ".join(f"{x['label']!r} {x['probability']:.1%}" for x in p["ranking"][1:4]))
    if "spans" in p:
        words, starts, i, out = list(p["tokens"]), {s["start"]: s for s in p["spans"]}, 0, []
        while i < len(words):
            if i in starts:
                out.append(f"[{' '.join(words[i:starts[i]['end']])}]{{{starts[i]['type']}}}")
                i = starts[i]["end"]
            else:
                out.append(words[i])
                i += 1
        parts.append(" ".join(out))
    if "sequence" in p:
        parts.append(" ".join(p["sequence"]))
    if "forecast" in p:
        f = p["forecast"]
        for j, col in enumerate(f["columns"]):
            parts.append(f"{col} next {len(f['steps'])}: " + " ".join(f"{row[j]:.4g}" for row in f["steps"][:8])
                         + (" ..." if len(f["steps"]) > 8 else ""))
    parts += [f"{k} {v:.4g}" for k, v in p.get("scores", {}).items()]
    return "   ".join(parts)


def labels(names: Sequence[str], probs: torch.Tensor, k: int | None = None) -> list[Label]:
    """The schema's ranking from a probability vector (V,): the k most likely names, best first."""
    probs = probs.detach().float().cpu()
    k = len(names) if k is None else min(k, len(names))
    top = torch.topk(probs, k)
    return [{"label": str(names[int(i)]), "probability": round(min(1.0, max(0.0, float(v))), 6)}
            for v, i in zip(top.values.tolist(), top.indices.tolist())]
