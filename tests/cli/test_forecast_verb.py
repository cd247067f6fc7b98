"""`rnnlab forecast BUNDLE series.csv`: text and JSON output, --horizon, --plot (never over a file without
--force), and the refusals (a non-forecast bundle, a bad row of the CSV)."""
import json

import pytest

from rnnlab.cli import main
from rnnlab.training import train
from tiny_intent import write_tiny_config, write_tiny_data
from tiny_series import series_config, sine_rows, write_series


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forecast-cli")
    train(series_config(write_series(tmp), tmp / "run", head="quantile"), echo=None)
    return tmp, tmp / "run" / "bundle"


def _csv(tmp, rows=60, name="in.csv"):
    path = tmp / name
    path.write_text("date,a,b\n" + "\n".join(sine_rows(rows, start_hour=2000)) + "\n")
    return path


def test_text_output_one_line_per_step_with_the_interval(bundle, capsys):
    tmp, b = bundle
    assert main(["forecast", str(b), str(_csv(tmp))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "time\ta\tb" and len(lines) == 1 + 12
    first = lines[1].split("\t")
    assert first[0] == "2021-04-02 20:00:00"  # hour 2060 (day 85, 20:00)
    assert "[" in first[1] and "]" in first[1]  # a quantile model: [lower, upper]


def test_json_and_horizon(bundle, capsys):
    tmp, b = bundle
    assert main(["forecast", str(b), str(_csv(tmp)), "--json", "--horizon", "5"]) == 0
    pred = json.loads(capsys.readouterr().out)
    f = pred["forecast"]
    assert len(f["steps"]) == len(f["times"]) == len(f["lower"]) == 5 and f["interval"] == 0.8
    assert pred["text"].endswith("in.csv")
    assert main(["forecast", str(b), str(_csv(tmp)), "--horizon", "13"]) != 0
    assert "--horizon must be in 1 .. 12" in capsys.readouterr().err


def test_plot_is_written_and_never_overwritten_without_force(bundle, capsys):
    tmp, b = bundle
    png = tmp / "f.png"
    assert main(["forecast", str(b), str(_csv(tmp)), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png.write_bytes(b"mine")
    assert main(["forecast", str(b), str(_csv(tmp)), "--plot", str(png)]) != 0
    assert "exists" in capsys.readouterr().err and png.read_bytes() == b"mine"
    assert main(["forecast", str(b), str(_csv(tmp)), "--plot", str(png), "--force"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bad_rows_name_the_file_and_line(bundle, capsys):
    tmp, b = bundle
    path = _csv(tmp, name="bad.csv")
    lines = path.read_text().splitlines()
    lines[10] = lines[10].rsplit(",", 1)[0] + ",oops"
    path.write_text("\n".join(lines) + "\n")
    assert main(["forecast", str(b), str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}:11: column 'b': 'oops' is not a number" in err and "Traceback" not in err
    assert main(["forecast", str(b), str(_csv(tmp, rows=20, name="short.csv"))]) != 0
    assert "the model reads 48 rows; the input has 20" in capsys.readouterr().err
    assert main(["forecast", str(b), str(tmp / "absent.csv")]) != 0
    assert "absent.csv: no such file" in capsys.readouterr().err


def test_a_non_forecast_bundle_is_refused_in_one_line(tmp_path, capsys):
    config = write_tiny_config(tmp_path, write_tiny_data(tmp_path / "data"), tmp_path / "run")
    assert main(["train", str(config), "train.epochs=1", "--quiet"]) == 0
    assert main(["forecast", str(tmp_path / "run" / "bundle"), str(_csv(tmp_path))]) != 0
    err = capsys.readouterr().err.strip()
    assert "is not a forecast model" in err and len(err.splitlines()) == 1
