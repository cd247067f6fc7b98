"""The forecast task: learns a sine better than repeat-last, scores every test window, intervals, its errors."""
import json

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.config import config_from_dict
from rnnlab.errors import DataError, UserError
from rnnlab.tasks.base import check_prediction
from rnnlab.tasks.forecast import ForecastData, ForecastModelConfig, ForecastTask
from rnnlab.training import prepare_task, train
from tiny_series import series_config, sine_rows, write_series


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


def _task(tmp_path, **data):
    path = write_series(tmp_path / "d", 300)
    cfg = config_from_dict({"task": "forecast", "run_dir": str(tmp_path / "r"),
                            "data": {"path": str(path), "lookback": 24, "horizon": 6, **data},
                            "model": {"arch": "nlinear", "head": "quantile"}})
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
