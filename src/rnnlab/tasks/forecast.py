"""Multi-step time-series forecasting: read the last L rows of a series, forecast the next H at once.

    CSV (readers.series) -> values (N, C) -> [log returns] -> z-scored with TRAIN statistics (N, C)
    window s: x = rows [s, s+L) (L, C) -> Forecaster (models.py) -> (H, C_t, K) -> rows [s+L, s+L+H) of the targets

The statistics are fitted here (forecasting.scaling.Scaler, the task's JSON state) and built into the model
(SeriesScaling, buffers in model.safetensors): training and evaluation feed the model z-scored windows
(`model(x, scaled=True)`, the benchmark protocol's units); `predict` feeds it the raw rows, and the model
answers in the data's units by itself.

Any CSV with a time column and numeric columns trains with the same config: `data.columns` (inputs, ""
= all), `data.targets` (what is forecast, a subset of the inputs; "" = all inputs). Multivariate ETTh1
is columns "" / targets "" (7 -> 7), univariate is columns "OT" / targets "OT".

Splits: fixed row counts (`train_rows`, `valid_rows`, `test_rows`: the Informer split of ETTh1 is 8640 /
2880 / 2880) or LTSF-Linear's fractions (0.7 train, 0.2 test, the rest valid); validation and test
windows begin `lookback` rows before their split (rnnlab.forecasting.windows). Every window is a
training example (stride 1) and every test window is scored: no partial batch is dropped. `evaluate`
also reports `mse_drop_last` (batches of 32, the last partial one dropped, as the original Informer /
LTSF loaders did before SegRNN's authors corrected it) and the repeat-last baseline on the same windows.
MSE and MAE are on the scaled data (the benchmark protocol); `predict` answers in the data's units.

Models (`model.arch`): segrnn (default), rnn (a direct multi-horizon head on a recurrent stack), nlinear,
dlinear (the linear baselines, trained by this same task and loop). `model.head`: point, quantile
(0.1 / 0.5 / 0.9) or gaussian; with the last two `evaluate` reports the 80 % interval's empirical
coverage and `predict` the interval.

Input to `predict` (CLI, studio): CSV text with the training file's header (at least the input columns
and the time column), at least `lookback` rows; the forecast is for the H steps after its last row, at
the times its most common time step gives.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from rnnlab import checks, limits
from rnnlab.errors import DataError, UserError
from rnnlab.explain import eval_mode, trace_layers
from rnnlab.files import decode_text
from rnnlab.forecasting.baselines import ErrorSums, repeat_last
from rnnlab.forecasting.models import (
    HEADS,
    DirectRNN,
    Forecaster,
    LinearForecaster,
    SegRNN,
    forecast_loss,
    point_and_interval,
)
from rnnlab.forecasting.scaling import TRANSFORMS, Scaler, SeriesScaling, transform_series
from rnnlab.forecasting.windows import borders_by_fraction, borders_by_rows, gather, window_starts
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.series import Series, future_times, parse_series, read_series, split_names
from rnnlab.runtime import Graph
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Option, Task

ARCHS = ("segrnn", "rnn", "nlinear", "dlinear")
NORMS = ("revin", "last", "none")
# the network as `_run` calls it: raw rows x (B, L, C) float64 -> the forecast in z-scores (B, H, C_t, K) float32
Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ForecastData:
    """The series and its windows. Paths: see rnnlab.readers.paths."""

    path: str = ""  # a CSV: header, time column, numeric columns
    time_column: str = "date"  # "" = no time column (row numbers)
    time_format: str = ""  # strptime format; "" = inferred (readers.series.TIME_FORMATS, day-first before month-first)
    columns: str = ""  # input columns, comma-separated; "" = every column but the time column
    targets: str = ""  # forecast columns (a subset of the inputs); "" = all the inputs
    transform: str = "none"  # "none" | "log_return" (prices -> log(p_t / p_t-1); one row fewer)
    lookback: int = 96  # L rows read
    horizon: int = 24  # H rows forecast
    train_rows: int = 0  # fixed row counts (Informer ETT: 8640 / 2880 / 2880); 0 = the fractions below
    valid_rows: int = 0
    test_rows: int = 0
    train_fraction: float = 0.7  # LTSF-Linear's custom split: int(0.7 n) train, int(0.2 n) test, the rest valid
    test_fraction: float = 0.2
    stride: int = 1  # training windows every `stride` rows (1 = every window, as the papers)


@dataclass
class ForecastModelConfig:
    arch: str = "segrnn"  # segrnn | rnn | nlinear | dlinear
    cell: str = "gru"  # rnn_tanh | rnn_relu | lstm | gru ("rnn" = rnn_tanh); segrnn and rnn
    hidden_size: int = 128
    num_layers: int = 1  # rnn only (segrnn has one recurrent layer, as the paper)
    segment: int = 24  # segrnn: rows per segment (the lookback must be a multiple)
    dropout: float = 0.1
    norm: str = "revin"  # revin | last | none
    head: str = "point"  # point | quantile | gaussian
    loss: str = "mse"  # point head: mse | mae
    engine: str = "auto"


def _round(v: float) -> float:
    return float(f"{v:.7g}")


class ForecastTask(Task):
    """Direct multi-horizon forecasting of a CSV series: L rows in, the next H rows of the targets out."""

    name = "forecast"
    DataConfig = ForecastData
    ModelConfig = ForecastModelConfig
    metric = "mse"
    metric_mode = "min"
    input_kind = "series"  # CSV text: the time column and the input columns, at least `lookback` rows
    options = (Option("horizon", int, "forecast steps kept, at most the model's (default: all of them)", minimum=1),)

    @classmethod
    def ignored_keys(cls, data: ForecastData, model: ForecastModelConfig) -> dict[str, str]:
        arch = f"model.arch = {model.arch!r}"
        unread = {"segrnn": ["num_layers"], "rnn": ["segment"]}.get(
            model.arch, ["cell", "hidden_size", "num_layers", "segment", "dropout", "engine"])  # linear: no recurrence
        ignored = {f"model.{key}": f"{arch} has no {key}" for key in unread}
        if model.head != "point":
            ignored["model.loss"] = f"model.head = {model.head!r} has its own loss (mse / mae are the point head's)"
        rows, fractions = ["data.valid_rows", "data.test_rows"], ["data.train_fraction", "data.test_fraction"]
        by_rows = data.train_rows > 0
        why = "data.train_rows > 0 splits by row counts" if by_rows else "data.train_rows = 0 splits by fractions"
        return {**ignored, **dict.fromkeys(fractions if by_rows else rows, why)}

    def __init__(self, data: ForecastData, model: ForecastModelConfig):
        super().__init__(data, model)
        checks.one_of("model.arch", model.arch, ARCHS)
        self.cell = checks.cell("model.cell", model.cell)
        checks.one_of("model.norm", model.norm, NORMS)
        checks.one_of("model.head", model.head, tuple(HEADS))
        checks.one_of("model.loss", model.loss, ("mse", "mae"))
        checks.one_of("data.transform", data.transform, TRANSFORMS)
        checks.model_keys(model, sizes=("hidden_size", "num_layers", "segment"), rates=("dropout",))
        for key in ("lookback", "horizon", "stride"):
            checks.whole(f"data.{key}", getattr(data, key))
        for key in ("train_rows", "valid_rows", "test_rows"):
            checks.whole(f"data.{key}", getattr(data, key), 0)
        if not (0 < data.train_fraction < 1 and 0 <= data.test_fraction < 1 - data.train_fraction):
            raise UserError("data.train_fraction must be in (0, 1) and data.test_fraction in [0, 1 - train_fraction)")
        if model.arch == "segrnn" and data.lookback % model.segment:
            raise UserError(f"data.lookback ({data.lookback}) must be a multiple of model.segment ({model.segment})")
        self.columns: list[str] | None = None  # fitted: the input columns, in order
        self.targets: list[int] | None = None  # indices of the target columns among the inputs
        self.scaler: Scaler | None = None
        self.time_format = ""  # the training file's time format (used for input without a given format)
        self._series: Series | None = None
        self._values: np.ndarray | None = None  # (N, C) after the transform, in the data's units
        self._scaled: np.ndarray | None = None  # (N, C) z-scored (float32), made when first needed

    # ---- data -------------------------------------------------------------------------------

    def _load(self, path: str) -> None:
        d = self.data
        if not path:
            raise UserError("data.path: no series configured (a CSV with a time column and numeric columns)")
        series = read_series(resolve_path(path), columns=d.columns, time_column=d.time_column,
                             time_format=d.time_format)
        names = split_names(d.targets) or series.columns
        missing = [t for t in names if t not in series.columns]
        if missing:
            raise UserError(f"data.targets: {missing[0]!r} is not an input column ({', '.join(series.columns)})")
        if self.columns is not None and self.columns != series.columns:
            raise DataError(series.name, series.lines[0] - 1 if series.lines else None,
                            f"columns {series.columns} are not the model's {self.columns}")
        self._series, self._values = series, transform_series(series, d.transform)
        self._scaled = None
        self._target_names = names

    def _borders(self) -> dict[str, tuple[int, int]]:
        d, n = self.data, len(self._values)
        try:
            if d.train_rows:
                return borders_by_rows(n, d.lookback, d.train_rows, d.valid_rows, d.test_rows)
            return borders_by_fraction(n, d.lookback, d.train_fraction, d.test_fraction)
        except ValueError as e:
            raise UserError(f"{self._series.name}: {e} (data.train_rows / valid_rows / test_rows)") from None

    def splits(self) -> list[str]:
        if self._values is None:
            self._load(self.data.path)
        d = self.data
        return [s for s, (b, e) in self._borders().items() if e - b - d.lookback - d.horizon + 1 > 0 or s == "train"]

    def read(self, split: str) -> list[int]:
        """The start rows of the split's windows (the values stay in the task: windows overlap)."""
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        begin, end = self._borders()[split]
        d = self.data
        starts = window_starts(begin, end, d.lookback, d.horizon, d.stride if split == "train" else 1)
        if not starts:
            raise UserError(f"{self._series.name}: the {split} split (rows {begin}..{end}) is shorter than "
                            f"lookback + horizon ({d.lookback} + {d.horizon})")
        return starts

    def read_file(self, split: str, path: str) -> list[int]:
        """`evaluate --data FILE`: every window of FILE (scaled with the model's statistics)."""
        self._load(path)
        starts = window_starts(0, len(self._values), self.data.lookback, self.data.horizon)
        if not starts:
            raise UserError(f"{path}: {len(self._values)} rows, fewer than lookback + horizon")
        return starts

    def fit(self, train_examples: list[int]) -> None:
        self.columns = list(self._series.columns)
        self.targets = [self.columns.index(t) for t in self._target_names]
        begin, end = self._borders()["train"]
        self.scaler = Scaler.fit(self._values[begin:end])  # the training rows alone
        self.time_format = self._series.time_format
        self._scaled = None

    def _array(self) -> np.ndarray:
        if self._scaled is None:
            self._scaled = self.scaler.transform(self._values).astype(np.float32)
        return self._scaled

    def encode(self, example: int) -> dict[str, Any]:
        return {"start": int(example)}

    def length(self, features: dict[str, Any]) -> int:
        return self.data.lookback

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        x, y = gather(self._array(), [f["start"] for f in features], self.data.lookback, self.data.horizon,
                      self.targets)
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(np.ascontiguousarray(y))}  # (B, L, C), (B, H, C_t)

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> Forecaster:
        m, d, c = self.model_config, self.data, len(self.columns)
        k = HEADS[m.head]
        if m.arch == "segrnn":
            core = SegRNN(self.cell, c, d.lookback, d.horizon, m.segment, m.hidden_size, m.dropout, k, m.engine)
        elif m.arch == "rnn":
            core = DirectRNN(self.cell, c, d.horizon, m.hidden_size, m.num_layers, m.dropout, k, m.engine)
        else:
            core = LinearForecaster(d.lookback, d.horizon, k, decompose=m.arch == "dlinear")
        return Forecaster(core, c, self.targets, m.norm, m.head, SeriesScaling.from_scaler(self.scaler))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        y = model(batch["x"], scaled=True).float()  # (B, H, C_t, K) z-scores: batches are scaled by collate
        total = forecast_loss(y, batch["y"], self.model_config.head, self.model_config.loss)
        return LossOutput(total, int(batch["y"].numel()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        head = self.model_config.head
        errors, last = ErrorSums(), ErrorSums()
        inside, width, loss_sum = 0, 0.0, 0.0
        for batch in batches:
            y = model(batch["x"], scaled=True).float()  # (B, H, C_t, K): the figures are on the z-scores
            loss_sum += float(forecast_loss(y, batch["y"], head, self.model_config.loss))
            point, lower, upper = point_and_interval(y, head)
            errors.add(point, batch["y"])
            last.add(repeat_last(batch["x"][:, :, self.targets], self.data.horizon), batch["y"])
            if lower is not None:
                inside += int(((batch["y"] >= lower) & (batch["y"] <= upper)).sum())
                width += float((upper - lower).sum())
        out = {"mse": errors.mse(), "mae": errors.mae(), "loss": loss_sum / max(errors.n, 1),
               "repeat_last_mse": last.mse(), "repeat_last_mae": last.mae(), "windows": len(errors.window_se)}
        dropped = errors.drop_last(32)
        if dropped is not None:
            out["mse_drop_last"], out["mae_drop_last"] = dropped
        if head != "point":
            out["coverage80"], out["interval_width"] = inside / max(errors.n, 1), width / max(errors.n, 1)
        return out

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> str:
        """CSV text (a header and rows), kept as text: `predict` reads it (errors name the input's line)."""
        if not isinstance(text, str) or not text.strip():
            raise UserError("expected CSV text: a header line and rows of values")
        return text

    def check_options(self, options: dict[str, Any], called: dict[str, str] | None = None) -> dict[str, Any]:
        """The base checks (kind, >= 1), then the horizon against the model's and the limit max_horizon."""
        checked = super().check_options(options, called)
        if "horizon" in checked:
            self._check_horizon(checked["horizon"], (called or {}).get("horizon") or "option horizon")
        return checked

    def _check_horizon(self, horizon: int, called: str) -> None:
        most = limits.current().max_horizon
        if horizon > most:
            raise UserError(f"{called} {horizon}: more steps than a forecast may be asked for "
                            f"{limits.hint('max_horizon')}; this model forecasts {self.data.horizon}")
        if not 1 <= horizon <= self.data.horizon:
            raise UserError(f"{called} must be in 1 .. {self.data.horizon} (the model's horizon), got {horizon}")

    def input_length(self, input: str) -> int:
        """Rows the model reads: the last `lookback` rows of values (lines after the header), as API calls count
        the calls read; a long CSV costs what its window costs, so the server's token limit applies to any upload."""
        rows = max(0, sum(1 for line in str(input).splitlines() if line.strip()) - 1)
        return min(rows, self.data.lookback)

    def _window(self, text: str) -> tuple[Series, np.ndarray]:
        """An input's series and its last `lookback` rows as the model reads them (L, C), after the transform."""
        if not isinstance(text, str) or not text.strip():
            raise UserError("expected CSV text: a header line and rows of values")
        d = self.data
        series = parse_series(text, "<input>", columns=",".join(self.columns), time_column=d.time_column,
                              time_format=d.time_format or self.time_format)
        values = transform_series(series, d.transform)
        if len(values) < d.lookback:
            raise UserError(f"the model reads {d.lookback} rows"
                            + (" of log returns" if d.transform == "log_return" else "")
                            + f"; the input has {len(values)}")
        return series, values[-d.lookback:]

    def _run(self, forward: Forward, texts: list[str]) -> list[dict[str, Any]]:
        """Predictions (the schema) of the texts, the network run by `forward` (`_model_forward`, `_graph_forward`):
        raw rows in, z-scores out; the interval, the data's units and the formatting are the same code for both."""
        d = self.data
        read = [self._window(text) for text in texts]
        x = torch.from_numpy(np.stack([window for _, window in read]))  # (B, L, C) float64, the data's units
        z = forward(x)  # (B, H, C_t, K) float32 z-scores, on the CPU
        # the interval taken on the float32 z-scores, as evaluate scores it, then mapped back (Forecaster.forecast);
        # the task's statistics are the model's (SeriesScaling.from_scaler: the same float64 numbers)
        scaling = SeriesScaling.from_scaler(self.scaler)
        point, lower, upper = (None if t is None else scaling.inverse(t, self.targets)
                               for t in point_and_interval(z, self.model_config.head))  # each (B, H, C_t) float64
        # the history as the network read it (float32 z-scores), back in the data's units
        history = scaling.inverse(scaling(x)[:, :, self.targets], self.targets)  # (B, L, C_t)
        _refuse_non_finite([series for series, _ in read], point, history, lower, upper)

        def units(t: torch.Tensor) -> list[list[float]]:
            return [[_round(v) for v in row] for row in t.tolist()]

        names = [self.columns[i] for i in self.targets]
        out = []
        for b, (text, (series, _)) in enumerate(zip(texts, read)):
            hist_times = series.times[-d.lookback:]
            forecast: dict[str, Any] = {
                "columns": names, "history_times": hist_times, "history": units(history[b]),
                "times": future_times(series, d.horizon), "steps": units(point[b])}
            if lower is not None:
                forecast.update(lower=units(lower[b]), upper=units(upper[b]), interval=0.8)
            out.append({"task": self.name, "text": text, "tokens": self._tokens(hist_times), "forecast": forecast,
                        "scores": {"lookback": float(d.lookback), "horizon": float(d.horizon)}})
        return out

    def _model_forward(self, model: nn.Module) -> Forward:
        """The PyTorch model as `_run`'s forward: raw rows (B, L, C) -> its z-scores (B, H, C_t, K) float32, as
        the model gives them (scaled by its own front end; not mapped to the data's units and back)."""
        def forward(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), eval_mode(model):
                x = x.to(next(model.parameters()).device)
                return model(model.scaling(x), scaled=True).float().cpu()

        return forward

    def _graph_forward(self, graph: Graph) -> Forward:
        """The export's graph as `_run`'s forward. The graph answers in the data's units (B, H, C_t, K) (float64):
        its last step, SeriesScaling.inverse, is undone with the same statistics, so the interval is taken on the
        z-scores as predict takes it (a Gaussian's sigma was scaled and not shifted, so it is only divided)."""
        mean = torch.from_numpy(self.scaler.mean[self.targets])  # (C_t,) float64
        scale = torch.from_numpy(self.scaler.scale[self.targets])  # (C_t,) float64 > 0
        sigma = 1 if self.model_config.head == "gaussian" else None  # which of the K outputs is a spread

        def forward(x: torch.Tensor) -> torch.Tensor:
            (y,) = graph(x)  # (B, H, C_t, K) the data's units
            y = y.double()
            return torch.stack([(y[..., j] if j == sigma else y[..., j] - mean) / scale
                                for j in range(y.shape[-1])], dim=-1).float()  # (B, H, C_t, K) z-scores

        return forward

    def _tokens(self, times: list[str]) -> list[str]:
        """What the recurrent layer read, one per step: segments (segrnn: their first row's time) or rows."""
        if self.model_config.arch == "segrnn":
            return times[:: self.model_config.segment]
        return list(times)

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, str]]:
        """A CSV file is one input: the series whose future is asked for (errors name the file and its line)."""
        text = decode_text(data, name)
        if not text.strip():
            raise DataError(name, None, "the file is empty: expected a header line and rows of values")
        try:
            self._window(self.parse_input(text))  # read it now, so a bad line names the file, not "<input>"
        except DataError as e:
            raise DataError(name, e.line, e.problem) from None
        except UserError as e:  # empty, too few rows: the file's problem, named as such
            raise DataError(name, None, str(e)) from None
        return [(name, text)]

    def predict(self, model: nn.Module, inputs: list[str], *, horizon: int | None = None) -> list[dict[str, Any]]:
        """For each CSV text: `forecast` = {columns, history_times, history (L rows), times, steps (H rows of
        the targets, data units), lower / upper (the 80 % interval, probabilistic heads)}; `horizon` keeps the
        first steps only (at most the model's)."""
        return self._predict(self._model_forward(model), inputs, horizon)

    def predict_graphs(self, graphs: dict[str, Graph], inputs: list[str], *,
                       horizon: int | None = None) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": raw rows x -> the forecast in the data's units): the same
        forecasts, intervals and history, `horizon` included (the graph forecasts the model's horizon, which a
        horizon may only shorten: longer is refused by both, in one line). Nothing of predict's needs the
        PyTorch model, so nothing is left out."""
        return self._predict(self._graph_forward(graphs["model"]), inputs, horizon)

    def _predict(self, forward: Forward, inputs: list[str], horizon: int | None) -> list[dict[str, Any]]:
        """`predict` with the network run by `forward` (see `_run`)."""
        inputs = list(inputs)
        if horizon is not None:
            self._check_horizon(horizon, "horizon")
        preds = self._run(forward, inputs) if inputs else []
        return preds if horizon is None else [_first_steps(p, horizon) for p in preds]

    def trace(self, model: nn.Module, input: str) -> dict[str, Any]:
        """The prediction plus the recurrent layer's states and gates per step (glass engine): per segment
        of the first target column (segrnn) or per row (rnn)."""
        arch = self.model_config.arch
        if arch not in ("segrnn", "rnn"):
            raise UserError(f"model.arch {arch!r} has no recurrent layer to trace")
        pred = self._run(self._model_forward(model), [input])[0]
        _, window = self._window(input)
        x = torch.from_numpy(window)[None].to(next(model.parameters()).device)  # (1, L, C), the data's units
        with torch.no_grad(), eval_mode(model):
            seq = model.core_input(x)  # (1, L, C): z-scored and normalised, as the core reads it
            core = model.core
            if arch == "segrnn":
                seq = core.segments(seq)[self.targets[0]: self.targets[0] + 1]  # (1, L/w, D): one channel
            traced = core.rnn.trace(seq)
        return {**pred, "cell": self.cell, "layers": trace_layers(traced)}

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """The last data.lookback raw rows in (the data's units, after data.transform), the forecast out in the
        same units: the scaling fitted on train is the model's front end, inside the graph. The lookback is
        fixed (the segment model cuts it into segments; the linear ones have one weight per row)."""
        return ExportGraph(model, inputs=(
            ExportTensor("x", "float64", ("batch", "lookback", "columns"), "raw rows, columns as forecast.columns"),
        ), outputs=(ExportTensor("forecast", "float64", ("batch", "horizon", "targets", "outputs"),
                                 "per step and target column: the value (and a Gaussian's sigma)"),))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """`batch_size` windows of rows around the training statistics (the series itself is not in a bundle);
        `length` does not apply: every window is data.lookback rows."""
        g = torch.Generator().manual_seed(seed)
        mean, scale = torch.from_numpy(self.scaler.mean), torch.from_numpy(self.scaler.scale)  # (C,) float64
        z = torch.randn(batch_size, self.data.lookback, len(mean), generator=g, dtype=torch.float64)
        return {"x": mean + scale * z.cumsum(1) / (1 + torch.arange(self.data.lookback)[None, :, None]) ** 0.5}

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        return {"forecast.series": {"columns": self.columns, "targets": self.targets, "time_format": self.time_format},
                "forecast.scaler": self.scaler.to_json()}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("forecast.series", "forecast.scaler"):
            if key not in state:
                raise ValueError(f"missing {key}")
        s = state["forecast.series"]
        if not (isinstance(s, dict) and isinstance(s.get("columns"), list) and isinstance(s.get("targets"), list)
                and all(isinstance(c, str) for c in s["columns"])
                and all(isinstance(t, int) and 0 <= t < len(s["columns"]) for t in s["targets"]) and s["targets"]):
            raise ValueError("forecast.series: {columns: [str], targets: [indices of columns], time_format}")
        self.columns, self.targets = list(s["columns"]), list(s["targets"])
        self.time_format = str(s.get("time_format", ""))
        self.scaler = Scaler.from_json(state["forecast.scaler"])
        if len(self.scaler.mean) != len(self.columns):
            raise ValueError("forecast.scaler: one mean and scale per column")


def _refuse_non_finite(series: list[Series], *outputs: torch.Tensor | None) -> None:
    """One line instead of a forecast holding NaN or inf (json.dumps would print them, and a reader would take
    them for numbers): input values within max_abs_value but far outside the training data's range can still
    overflow the float32 network. `outputs`: (B, ...) tensors, None for an absent interval."""
    finite = torch.ones(len(series), dtype=torch.bool)
    for out in outputs:
        if out is not None:
            finite &= torch.isfinite(out).flatten(1).all(1).cpu()  # (B,)
    for ok, s in zip(finite.tolist(), series):
        if not ok:
            raise UserError(f"the forecast after {s.times[-1]} came out non-finite (NaN or inf) and is not given: "
                            "the input's values overflow the model (are they in the training data's units?)")


def _first_steps(pred: dict[str, Any], horizon: int) -> dict[str, Any]:
    """A prediction with its forecast cut to the first `horizon` steps (times, steps and the interval's bounds)."""
    f = dict(pred["forecast"])
    for key in ("times", "steps", "lower", "upper"):
        if key in f:
            f[key] = f[key][:horizon]
    return {**pred, "forecast": f}
