"""The forecast task: learns a sine better than repeat-last, scores every test window, intervals, its errors;
the model scales raw rows itself, with the numbers of scaling outside it, and older bundles still load."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import rnnlab
from rnnlab.config import config_from_dict
from rnnlab.errors import DataError, UserError
from rnnlab.export import export_bundle
from rnnlab.forecasting.baselines import ErrorSums
from rnnlab.forecasting.models import point_and_interval
from rnnlab.forecasting.scaling import Scaler, transform_series
from rnnlab.readers.series import parse_series
from rnnlab.runtime import load_predictor, torch_graphs
from rnnlab.tasks.base import check_prediction
from rnnlab.tasks.forecast import ForecastData, ForecastModelConfig, ForecastTask, _round
from rnnlab.training import prepare_task, train
from same_predictions import assert_same_predictions  # noqa: E402
from tiny_series import series_config, sine_rows, write_series

BEFORE_SCALING = Path(__file__).resolve().parent.parent / "data" / "forecast_before_scaling"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forecast")
    path = write_series(tmp)
    summary = train(series_config(path, tmp / "run"), echo=None)
    return tmp, path, summary


def test_a_sine_is_learned_better_than_repeat_last(trained):
    _, _, summary = trained
    test = summary["test"]
    assert test["windows"] == 100 - 12 + 1  # every test window, none dropped
    assert test["mse"] < 0.25 * test["repeat_last_mse"]
    assert "mse_drop_last" in test and test["mse_drop_last"] > 0


def test_predict_forecasts_after_the_last_row_in_data_units(trained):
    tmp, _, _ = trained
    p = rnnlab.load(tmp / "run" / "bundle")
    text = "date,a,b\n" + "\n".join(sine_rows(60, start_hour=1000)) + "\n"
    pred = p.predict([p.task.parse_input(text)])[0]
    check_prediction(pred)
    f = pred["forecast"]
    assert f["columns"] == ["a", "b"] and len(f["steps"]) == 12 and len(f["history"]) == 48
    assert f["times"][0] == "2021-02-17 04:00:00"  # the hour after the last row (hour 1059: day 44, 03:00)
    truth = np.array([[float(v) for v in r.split(",")[1:]] for r in sine_rows(12, start_hour=1060)])
    assert np.abs(np.array(f["steps"]) - truth).mean() < 0.3  # close, in the data's units (b is near 5)
    assert pred["tokens"] == f["history_times"][::12]  # segrnn reads segments of 12 rows


def test_too_few_rows_and_bad_input_are_refused(trained):
    tmp, _, _ = trained
    p = rnnlab.load(tmp / "run" / "bundle")
    with pytest.raises(UserError, match="the model reads 48 rows; the input has 10"):
        p.predict(["date,a,b\n" + "\n".join(sine_rows(10)) + "\n"])
    with pytest.raises(DataError, match="<input>:1: no column 'b'"):
        p.predict(["date,a\n2021-01-01 00:00:00,1\n"])
    with pytest.raises(UserError, match="expected CSV text"):
        p.task.parse_input("   ")
    assert p.task.input_length("date,a,b\n1,2,3\n4,5,6\n") == 2


def _task(tmp_path, model=None, **data):
    path = write_series(tmp_path / "d", 300)
    cfg = config_from_dict({"task": "forecast", "run_dir": str(tmp_path / "r"),
                            "data": {"path": str(path), "lookback": 24, "horizon": 6, **data},
                            "model": model or {"arch": "nlinear", "head": "quantile"}})
    return prepare_task(cfg)


def test_univariate_targets_and_scaling_from_train_rows(tmp_path):
    task, feats = _task(tmp_path, columns="b", targets="b")
    assert task.columns == ["b"] and task.targets == [0]
    n_train = int(300 * 0.7)
    b = task._values[:n_train, 0]
    assert task.scaler.mean[0] == pytest.approx(b.mean()) and task.scaler.scale[0] == pytest.approx(b.std())
    batch = task.collate(feats["test"][:4])
    assert batch["x"].shape == (4, 24, 1) and batch["y"].shape == (4, 6, 1)


def test_quantile_head_reports_interval_coverage(tmp_path):
    task, feats = _task(tmp_path, targets="a")
    model = task.build_model()
    batches = [task.collate([feats["test"][i] for i in b]) for b in task.batches(feats["test"], 16, shuffle=False)]
    metrics = task.evaluate(model, batches)
    assert 0.0 <= metrics["coverage80"] <= 1.0 and metrics["interval_width"] >= 0
    pred = task.predict(model, ["date,a,b\n" + "\n".join(sine_rows(30)) + "\n"])[0]
    f = pred["forecast"]
    assert f["interval"] == 0.8 and all(lo <= hi for lo, hi in zip(np.ravel(f["lower"]), np.ravel(f["upper"])))
    check_prediction(pred)


def test_state_round_trip_and_bad_state(tmp_path):
    task, _ = _task(tmp_path)
    other = ForecastTask(task.data, task.model_config)
    other.state_from_json(json.loads(json.dumps(task.state_to_json())))
    assert other.state_to_json() == task.state_to_json()
    bad = task.state_to_json()
    bad["forecast.series"] = {**bad["forecast.series"], "targets": [5]}
    with pytest.raises(ValueError):
        other.state_from_json(bad)


@pytest.mark.parametrize("data, model, words", [
    ({"lookback": 50}, {"segment": 24}, "data.lookback (50) must be a multiple of model.segment (24)"),
    ({}, {"arch": "transformer"}, "model.arch must be one of"),
    ({}, {"head": "laplace"}, "model.head must be one of"),
    ({}, {"cell": "foo"}, "model.cell"),
    ({"horizon": 0}, {}, "data.horizon must be >= 1"),
    ({"transform": "diff"}, {}, "data.transform must be one of"),
])
def test_bad_config_values_are_one_line_errors(data, model, words):
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ForecastTask(ForecastData(**{"lookback": 48, **data}), ForecastModelConfig(**model))


def test_split_too_short_and_unknown_target(tmp_path):
    with pytest.raises(UserError, match="needs 1200 rows, the series has 300"):
        _task(tmp_path, train_rows=1000, valid_rows=100, test_rows=100)
    with pytest.raises(UserError, match="data.targets: 'c' is not an input column"):
        _task(tmp_path, targets="c")


def test_log_returns_refuse_non_positive_prices(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,p\n" + "".join(f"2020-01-{d:02d},{100 - 10 * d}\n" for d in range(1, 15)))
    cfg = config_from_dict({"task": "forecast", "run_dir": str(tmp_path / "r"),
                            "data": {"path": str(path), "lookback": 2, "horizon": 1, "transform": "log_return"},
                            "model": {"arch": "nlinear"}})
    with pytest.raises(DataError, match=r"p.csv:11: column 'p': log returns need positive values"):
        prepare_task(cfg)


def test_segrnn_lstm_trace_has_a_step_per_segment(tmp_path):
    torch.manual_seed(0)
    path = write_series(tmp_path / "d")
    cfg = series_config(path, tmp_path / "r", cell="lstm")
    task, _ = prepare_task(cfg)
    model = task.build_model().eval()
    trace = task.trace(model, "date,a,b\n" + "\n".join(sine_rows(48)) + "\n")
    assert len(trace["tokens"]) == 4 and trace["cell"] == "lstm"
    assert len(trace["layers"][0]["h"]) == 4 and "forget_gate" in trace["layers"][0]["gates"]


def test_check_prediction_refuses_malformed_forecasts():
    good = {"task": "forecast", "text": "x", "tokens": [],
            "forecast": {"columns": ["a"], "times": ["t1", "t2"], "steps": [[1.0], [2.0]],
                         "lower": [[0.5], [1.5]], "upper": [[1.5], [2.5]], "interval": 0.8,
                         "history_times": ["t0"], "history": [[0.0]]}}
    check_prediction(good)
    for change in ({"steps": [[1.0]]}, {"steps": [[1.0], [float("nan")]]}, {"upper": None}, {"interval": 2.0},
                   {"history": [[0.0], [1.0]]}, {"colour": "red"}, {"columns": "a"}):
        f = {k: v for k, v in {**good["forecast"], **change}.items() if v is not None}
        with pytest.raises(ValueError, match="forecast"):
            check_prediction({**good, "forecast": f})


def _old_predict(task, model, text):
    """What predict computed before the scaling moved into the model: the task's Scaler (numpy) scales the
    window, the model reads and answers z-scores, the interval is taken there and mapped back."""
    values = transform_series(parse_series(text, columns=",".join(task.columns)), task.data.transform)
    x = torch.from_numpy(task.scaler.transform(values[-task.data.lookback:]).astype(np.float32))[None]
    with torch.no_grad():
        y = model(x, scaled=True).float()
    point, lower, upper = point_and_interval(y, task.model_config.head)

    def units(t):
        return [[_round(v) for v in row] for row in task.scaler.inverse(t[0].double().numpy(), task.targets)]

    old = {"history": units(x[:, :, task.targets]), "steps": units(point)}
    return old if lower is None else {**old, "lower": units(lower), "upper": units(upper)}


@pytest.mark.parametrize("model", [{"arch": "segrnn", "head": "gaussian", "norm": "revin", "segment": 12},
                                   {"arch": "rnn", "head": "quantile", "norm": "last", "cell": "lstm"},
                                   {"arch": "dlinear", "head": "point", "norm": "none"}])
def test_predictions_are_those_of_scaling_outside_the_model_bit_for_bit(tmp_path, model):
    task, _ = _task(tmp_path, model={"hidden_size": 8, "dropout": 0.0, **model})
    torch.manual_seed(0)
    m = task.build_model().eval()
    with torch.no_grad():  # weights far from their initial values: every part of the output matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    text = "date,a,b\n" + "\n".join(f"2021-03-01 {h:02d}:00:00,{1 + h / 7:.5f},{9 - h / 11:.5f}" for h in range(24))
    got = task.predict(m, [text])[0]["forecast"]
    assert {k: got[k] for k in ("history", "steps", "lower", "upper") if k in got} == _old_predict(task, m, text)


def test_evaluation_figures_are_on_the_z_scores(tmp_path):
    task, feats = _task(tmp_path, model={"arch": "segrnn", "head": "point", "hidden_size": 8, "segment": 12})
    torch.manual_seed(0)
    m = task.build_model().eval()
    batches = [task.collate([feats["test"][i] for i in b]) for b in task.batches(feats["test"], 16, shuffle=False)]
    errors, raw, rescaled = ErrorSums(), ErrorSums(), ErrorSums()
    scale = torch.from_numpy(task.scaler.scale[task.targets])
    with torch.no_grad():
        for batch in batches:
            point = m(batch["x"], scaled=True)[..., 0]  # the z-scored windows collate makes
            errors.add(point, batch["y"])
            rescaled.add(point.double() * scale, batch["y"].double() * scale)
            x = torch.from_numpy(task.scaler.inverse(batch["x"].double().numpy()))  # the same windows, raw
            raw.add(m(x)[..., 0], torch.from_numpy(task.scaler.inverse(batch["y"].double().numpy(), task.targets)))
    metrics = task.evaluate(m, batches)
    assert (metrics["mse"], metrics["mae"]) == (errors.mse(), errors.mae())
    assert metrics["windows"] == len(feats["test"])
    # the model reading raw rows answers the same forecast in the data's units, where the figures differ
    assert raw.mse() == pytest.approx(rescaled.mse(), rel=1e-5) and raw.mse() < 0.7 * metrics["mse"]  # scales ~0.7


def test_a_bundle_saved_before_the_scaling_moved_into_the_model_loads_and_predicts_the_same():
    """tests/data/forecast_before_scaling: a bundle saved at commit bb646b4 (the statistics only in
    forecast.scaler.json) and its prediction then, for the input below."""
    bundle = BEFORE_SCALING / "bundle"
    assert not [k for k in load_file(bundle / "model.safetensors") if k.startswith("scaling.")]  # the old layout
    p = rnnlab.load(bundle)  # model.safetensors loaded with strict=True
    saved = json.loads((bundle / "forecast.scaler.json").read_text())
    assert p.model.scaling.mean.tolist() == saved["mean"] and p.model.scaling.scale.tolist() == saved["scale"]
    pred = p.predict(["date,a,b\n" + "\n".join(sine_rows(30, start_hour=1000)) + "\n"])[0]
    check_prediction(pred)
    then = json.loads((BEFORE_SCALING / "prediction.json").read_text())
    got = pred["forecast"]
    assert {k: got[k] for k in ("columns", "times", "history_times", "interval")} == \
        {k: then[k] for k in ("columns", "times", "history_times", "interval")}
    for key in ("history", "steps", "lower", "upper"):  # another machine's float32 kernels may round differently
        np.testing.assert_allclose(got[key], then[key], rtol=1e-5, atol=1e-6)


def test_the_saved_weights_carry_the_statistics_and_take_raw_rows(trained):
    tmp, _, _ = trained
    bundle = tmp / "run" / "bundle"
    p = rnnlab.load(bundle)
    weights = load_file(bundle / "model.safetensors")
    assert weights["scaling.mean"].dtype == torch.float64
    assert weights["scaling.mean"].tolist() == p.task.scaler.mean.tolist()
    assert weights["scaling.scale"].tolist() == p.task.scaler.scale.tolist()
    # a model built with other statistics takes the weights' own
    other = ForecastTask(p.task.data, p.task.model_config)
    other.state_from_json(p.task.state_to_json())
    other.scaler = Scaler(np.zeros(2), np.ones(2))
    model = other.build_model().eval()
    model.load_state_dict(weights, strict=True)
    text = "date,a,b\n" + "\n".join(sine_rows(60, start_hour=1000)) + "\n"
    raw = torch.from_numpy(parse_series(text).values[-48:])[None]  # (1, L, C) as in the CSV
    with torch.no_grad():
        y = model(raw)[0, :, :, 0]  # (H, C_t) the data's units, nothing else needed
    steps = p.predict([text])[0]["forecast"]["steps"]
    assert [[_round(v) for v in row] for row in y.tolist()] == steps


@pytest.mark.parametrize("head", ["gaussian", "quantile"])
def test_the_export_forecasts_as_the_bundle_under_a_shorter_horizon(tmp_path, head):
    """`rnnlab predict OUT` (predict_graphs on the export's graph in onnxruntime) against the bundle: the interval
    is taken on the z-scores in both (the graph's units mapped back); a horizon shortens both alike, and one
    beyond the graph's fixed output is refused by both with the same line."""
    cfg = series_config(write_series(tmp_path / "d"), tmp_path / "run", head=head, hidden_size=8, cell="lstm")
    train(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1)), echo=None)
    bundle = tmp_path / "run" / "bundle"
    export_bundle(bundle, tmp_path / "export")
    predictor, served = rnnlab.load(bundle), load_predictor(tmp_path / "export")
    assert served.runtime == "onnx"
    texts = ["date,a,b\n" + "\n".join(sine_rows(n, start_hour=h)) + "\n" for n, h in ((60, 1000), (48, 7))]
    graphs = torch_graphs(predictor.task, predictor.model)
    for horizon in (5, None):
        want = predictor.predict(texts, horizon=horizon)
        assert len(want[0]["forecast"]["steps"]) == (horizon or 12) and "lower" in want[0]["forecast"]
        # float32 kernels (onnxruntime's, or the float32 that runtime.TorchGraph hands back) round differently
        assert_same_predictions(served.predict(texts, horizon=horizon), want, tolerance=1e-5)
        assert_same_predictions(predictor.task.predict_graphs(graphs, texts, horizon=horizon), want, tolerance=1e-5)
    for run in (predictor, served):
        with pytest.raises(UserError, match=r"horizon must be in 1 \.\. 12 \(the model's horizon\), got 13"):
            run.predict(texts, horizon=13)
