"""Bad input to the series, log-session and API-call verbs (issue 31), one row per case: a CSV series given to
`forecast`, `evaluate`, `predict`, `train`; sessions of log events given to `detect` and `predict`; API-call traces
given to `predict`; and the same files sent to the studio's /upload and /predict. Each ends in one line naming the
file (and row), the value and the setting to change, exit 1 (2 for a malformed command line) or a 4xx, never a
traceback, a NaN printed as a figure or a confident verdict on a word. Tiny forecast, log_anomaly and api_calls
bundles are trained here once (tests/tiny_series.py, tests/tiny_calls.py, the sessions of tests/cli/test_detect.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rnnlab import limits
from rnnlab.cli import main
from rnnlab.config import config_from_dict
from rnnlab.studio import create_app
from rnnlab.studio.server import Limits
from rnnlab.training import train
from tiny_calls import calls_config, write_calls_data
from tiny_series import series_config, sine_rows, write_series


def _session(rng: random.Random) -> str:
    return "1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 3))) + " 6"


def _logs_config(train_file: Path, run_dir: Path):
    return config_from_dict({
        "task": "log_anomaly", "run_dir": str(run_dir), "data": {"train": str(train_file)},
        "model": {"window": 4, "top_g": 2, "hidden_size": 24, "embed_size": 8},
        "train": {"epochs": 12, "batch_size": 16, "lr": 0.01, "progress": False, "seed": 0}})


def _csv(path: Path, value: str | None = None, row: int = 30, rows: int = 60) -> Path:
    """60 rows of the tiny sine series after its training rows; `value` written into column a of data row `row`
    (file line row + 2: the header is line 1)."""
    lines = sine_rows(rows, start_hour=2000)
    if value is not None:
        t, _, b = lines[row].split(",")
        lines[row] = f"{t},{value},{b}"
    path.write_text("date,a,b\n" + "\n".join(lines) + "\n")
    return path


def _write_bad_files(d: Path) -> None:
    for name, value in [("big", "1e308"), ("inf", "inf"), ("nan", "NaN"), ("over", "2e15"), ("e30", "1e30")]:
        _csv(d / f"{name}.csv", value)
    _csv(d / "ok.csv")
    (d / "empty.csv").write_text("")
    (d / "empty.txt").write_text("")
    (d / "adir").mkdir()
    (d / "taken.png").write_bytes(b"mine")
    (d / "one.txt").write_text("1 2 3 4 6\n")
    (d / "words.txt").write_text("1 2 3 4 6\nhello world\n")
    (d / "calls-words.txt").write_text("10,11,12\ncalls.txt\n")
    train_csv = write_series(d / "bigtrain")
    lines = train_csv.read_text().splitlines()
    t, a, _ = lines[100].split(",")
    lines[100] = f"{t},{a},1e308"
    train_csv.write_text("\n".join(lines) + "\n")
    (d / "bigtrain.toml").write_text(
        f'task = "forecast"\nrun_dir = "{d / "never"}"\n[data]\npath = "{train_csv}"\nlookback = 48\nhorizon = 12\n'
        "train_rows = 400\nvalid_rows = 100\ntest_rows = 100\n[model]\nsegment = 12\nhidden_size = 8\n"
        "[train]\nepochs = 1\nprogress = false\n")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, one_thread):
    """{"fc", "logs", "calls": bundle directories, "d": the folder of bad files}."""
    root = tmp_path_factory.mktemp("bad-series-logs")
    train(series_config(write_series(root / "fc"), root / "fc" / "run"), echo=None)
    train(calls_config(write_calls_data(root / "calls"), root / "calls" / "run"), echo=None)
    rng = random.Random(0)
    (root / "logs").mkdir()
    (root / "logs" / "train.txt").write_text("".join(_session(rng) + "\n" for _ in range(150)))
    train(_logs_config(root / "logs" / "train.txt", root / "logs" / "run"), echo=None)
    d = root / "d"
    d.mkdir()
    _write_bad_files(d)
    yield {"fc": root / "fc" / "run" / "bundle", "logs": root / "logs" / "run" / "bundle",
           "calls": root / "calls" / "run" / "bundle", "d": d, "none": root / "no-bundle"}
    limits.reset()


E30 = ["--limit", "max_abs_value=1e300"]  # lets 1e30 through the reader, to reach the guard on the output

# (id, argv: {fc} {logs} {calls} {none} bundles, {d}/ the bad files; expected exit; parts of the one line)
CLI_CASES = [
    # values a series may not hold: one place (readers.series), every verb
    ("series-1e308-forecast", ["forecast", "{fc}", "{d}/big.csv"], 1,
     ["big.csv:32:", "column 'a'", "1e308", "limit max_abs_value=1e+15", "--limit max_abs_value=N"]),
    ("series-1e308-evaluate", ["evaluate", "{fc}", "--data", "{d}/big.csv"], 1, ["big.csv:32:", "1e308"]),
    ("series-1e308-predict", ["predict", "{fc}", "{d}/big.csv"], 1, ["big.csv:32:", "1e308", "max_abs_value"]),
    ("series-1e308-train", ["train", "{d}/bigtrain.toml"], 1,
     ["series.csv:101:", "column 'b'", "1e308", "max_abs_value=1e+15"]),
    ("series-above-limit", ["forecast", "{fc}", "{d}/over.csv"], 1, ["over.csv:32:", "2e15", "max_abs_value=1e+15"]),
    ("series-limit-lowered", ["forecast", "{fc}", "{d}/ok.csv", "--limit", "max_abs_value=0.5"], 1,
     ["ok.csv:", "max_abs_value=0.5"]),
    ("series-inf", ["forecast", "{fc}", "{d}/inf.csv"], 1, ["inf.csv:32:", "'inf' is not a finite number"]),
    ("series-nan-evaluate", ["evaluate", "{fc}", "--data", "{d}/nan.csv"], 1,
     ["nan.csv:32:", "'NaN' is not a finite number"]),
    # a forecast that overflows anyway is never printed
    ("forecast-non-finite-output", ["forecast", "{fc}", "{d}/e30.csv", *E30], 1,
     ["the forecast after 2021-04-02 19:00:00 came out non-finite", "not given"]),
    ("forecast-non-finite-output-json", ["forecast", "{fc}", "{d}/e30.csv", "--json", *E30], 1, ["non-finite"]),
    ("predict-non-finite-output", ["predict", "{fc}", "{d}/e30.csv", *E30], 1, ["non-finite"]),
    ("evaluate-non-finite-metrics", ["evaluate", "{fc}", "--data", "{d}/e30.csv", *E30], 1,
     ["e30.csv: mse ", "overflowed", "no figures are printed"]),
    # --plot: checked before the bundle is even loaded ({none} does not exist)
    ("plot-unknown-extension", ["forecast", "{none}", "{d}/ok.csv", "--plot", "{d}/out.xyz"], 1,
     ["--plot", "out.xyz: matplotlib cannot write .xyz files", "png", "pdf", "svg"]),
    ("plot-no-extension", ["forecast", "{none}", "{d}/ok.csv", "--plot", "{d}/out"], 1,
     ["--plot", "no extension to say the format"]),
    ("plot-is-a-directory", ["forecast", "{none}", "{d}/ok.csv", "--plot", "{d}/adir"], 1,
     ["--plot", "adir: is a directory", "adir/forecast.png"]),
    ("plot-missing-folder", ["forecast", "{none}", "{d}/ok.csv", "--plot", "{d}/nowhere/f.png"], 1,
     ["--plot", "f.png: the folder", "nowhere does not exist"]),
    ("plot-exists", ["forecast", "{none}", "{d}/ok.csv", "--plot", "{d}/taken.png"], 1,
     ["taken.png exists", "--force"]),
    # the horizon
    ("horizon-zero", ["forecast", "{fc}", "{d}/ok.csv", "--horizon", "0"], 1, ["--horizon: must be >= 1, got 0"]),
    ("horizon-negative-predict", ["predict", "{fc}", "{d}/ok.csv", "--option", "horizon=-3"], 1,
     ["option horizon: must be >= 1"]),
    ("horizon-above-model", ["forecast", "{fc}", "{d}/ok.csv", "--horizon", "13"], 1,
     ["--horizon must be in 1 .. 12 (the model's horizon), got 13"]),
    ("horizon-above-limit", ["forecast", "{fc}", "{d}/ok.csv", "--horizon", "100000"], 1,
     ["--horizon 100000", "limit max_horizon=10000", "this model forecasts 12"]),
    ("horizon-above-limit-predict", ["predict", "{fc}", "{d}/ok.csv", "--option", "horizon=100000"], 1,
     ["option horizon 100000", "max_horizon=10000"]),
    ("horizon-limit-lowered", ["forecast", "{fc}", "{d}/ok.csv", "--horizon", "5", "--limit", "max_horizon=3"], 1,
     ["--horizon 5", "limit max_horizon=3"]),
    # paths that are not files
    ("forecast-directory", ["forecast", "{fc}", "{d}/adir"], 1, ["adir: is a directory"]),
    ("forecast-missing", ["forecast", "{fc}", "{d}/absent.csv"], 1, ["absent.csv: no such file"]),
    ("forecast-empty-csv", ["forecast", "{fc}", "{d}/empty.csv"], 1, ["empty.csv: the file is empty"]),
    ("predict-forecast-directory", ["predict", "{fc}", "{d}/adir"], 1, ["adir: is a directory"]),
    ("predict-forecast-missing", ["predict", "{fc}", "{d}/absent.csv"], 1, ["absent.csv: no such file"]),
    ("evaluate-forecast-directory", ["evaluate", "{fc}", "--data", "{d}/adir"], 1, ["adir: is a directory"]),
    ("evaluate-two-data-files", ["evaluate", "{fc}", "--data", "{d}/ok.csv", "{d}/big.csv"], 2,
     ["--data takes one FILE, got 2", "ok.csv", "big.csv", "one at a time"]),
    # sessions of log events: a word or a path is not a session (an unseen well-formed id still is)
    ("predict-logs-words", ["predict", "{logs}", "hello world"], 1,
     ["'hello world' is not a session", "event id 'hello' is not an integer", "`e1 e2 ...`"]),
    ("predict-logs-one-bad-token", ["predict", "{logs}", "1 2 x 6"], 1, ["'1 2 x 6' is not a session", "'x'"]),
    ("predict-logs-negative-id", ["predict", "{logs}", "1 -2 6"], 1, ["event id -2 is negative"]),
    ("predict-logs-missing-path", ["predict", "{logs}", "{d}/gone.txt"], 1, ["gone.txt: no such file"]),
    ("predict-logs-directory", ["predict", "{logs}", "{d}/adir"], 1, ["adir: is a directory"]),
    ("predict-logs-empty-file", ["predict", "{logs}", "{d}/empty.txt"], 1,
     ["empty.txt: no sessions: the file is empty", "`e1 e2 ...`"]),
    ("detect-empty-file", ["detect", "{logs}", "{d}/empty.txt"], 1, ["empty.txt: no sessions: the file is empty"]),
    ("detect-words-in-file", ["detect", "{logs}", "{d}/words.txt"], 1, ["words.txt:2:", "'hello' is not an integer"]),
    ("detect-directory", ["detect", "{logs}", "{d}/adir"], 1, ["adir: is a directory"]),
    ("detect-missing", ["detect", "{logs}", "{d}/gone.txt"], 1, ["gone.txt: no such file"]),
    ("evaluate-logs-empty-file", ["evaluate", "{logs}", "--data", "{d}/empty.txt"], 1, ["no sessions"]),
    ("evaluate-logs-directory", ["evaluate", "{logs}", "--data", "{d}/adir"], 1, ["adir: is a directory"]),
    # top-g: against the limit max_top and the bundle's events (1..6 and the end of a session: g <= 7)
    ("detect-top-g-huge", ["detect", "{logs}", "{d}/one.txt", "--top-g", "100000"], 1,
     ["--top-g 100000", "limit max_top=1000", "knows 6 events", "at most 7"]),
    ("detect-top-g-beyond-events", ["detect", "{logs}", "{d}/one.txt", "--top-g", "8"], 1,
     ["--top-g 8", "knows 6 events", "1 .. 7"]),
    ("detect-top-g-limit-lowered", ["detect", "{logs}", "{d}/one.txt", "--top-g", "3", "--limit", "max_top=2"], 1,
     ["--top-g 3", "max_top=2"]),
    ("predict-top-g-option", ["predict", "{logs}", "{d}/one.txt", "--option", "top_g=100000"], 1,
     ["option top_g 100000", "max_top=1000"]),
    ("detect-top-g-zero", ["detect", "{logs}", "{d}/one.txt", "--top-g", "0"], 1, ["--top-g: must be >= 1"]),
    # API-call traces
    ("predict-calls-missing", ["predict", "{calls}", "{d}/gone.txt"], 1, ["gone.txt: no such file"]),
    ("predict-calls-missing-folder", ["predict", "{calls}", "{d}/nowhere/calls.txt"], 1,
     ["nowhere/calls.txt: no such file"]),
    ("predict-calls-directory", ["predict", "{calls}", "{d}/adir"], 1, ["adir: is a directory"]),
    ("predict-calls-empty-file", ["predict", "{calls}", "{d}/empty.txt"], 1, ["empty.txt: no sequences"]),
    ("predict-calls-word", ["predict", "{calls}", "hello"], 1, ["API-call id 'hello' is not a non-negative integer"]),
    ("predict-calls-path-in-file", ["predict", "{calls}", "{d}/calls-words.txt"], 1,
     ["calls-words.txt:2:", "'calls.txt'"]),
    # a file larger than max_file_bytes is refused before it is read (ok.csv is about 2 kB, one.txt 10 bytes)
    ("forecast-file-too-large", ["forecast", "{fc}", "{d}/ok.csv", "--limit", "max_file_bytes=1000"], 1,
     ["ok.csv: input file too large", "limit max_file_bytes=1000"]),
    ("predict-sessions-file-too-large", ["predict", "{logs}", "{d}/one.txt", "--limit", "max_file_bytes=5"], 1,
     ["one.txt: input file too large: 10 bytes", "max_file_bytes=5"]),
    ("predict-calls-file-too-large", ["predict", "{calls}", "{d}/calls-words.txt", "--limit", "max_file_bytes=5"],
     1, ["calls-words.txt: input file too large", "max_file_bytes=5"]),
]


def _argv(args: list[str], bundles) -> list[str]:
    fill = {k: str(v) for k, v in bundles.items()}
    return [a.format(**fill) for a in args]


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's refusals (exit 2)
        return int(e.code)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_in_one_line(bundles, capsys, case):
    _, args, code, parts = case
    verb = args[0]
    got = _main(_argv(args, bundles))
    out = capsys.readouterr()
    assert got == code, out
    assert out.out == "" and "Traceback" not in out.err  # nothing printed as a result, NaN least of all
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rnnlab {verb}: error: "), out.err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_what_the_refusals_leave_alone(bundles, capsys):
    """The same verbs on good input still answer: a well-formed event id never seen in training is DeepLog's
    sign of an anomaly (scored "abnormal", not refused), the largest top-g is taken, the good CSV forecasts, and
    --plot writes any format matplotlib offers."""
    d, logs = bundles["d"], str(bundles["logs"])
    (d / "unseen.txt").write_text("1 2 99 6\n1 2 3 4 6\n")
    assert _main(["detect", logs, str(d / "unseen.txt"), "--top-g", "7"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in out] == ["abnormal", "normal"]
    assert _main(["predict", logs, "1 2 99 6", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["answer"]["label"] == "abnormal" and pred["unknown"] == [False, False, True, False]
    svg = d / "f.svg"
    assert _main(["forecast", str(bundles["fc"]), str(d / "ok.csv"), "--plot", str(svg), "--json"]) == 0
    f = json.loads(capsys.readouterr().out)["forecast"]
    assert len(f["steps"]) == 12 and svg.read_text().lstrip().startswith("<?xml")
    assert _main(["forecast", str(bundles["fc"]), str(d / "over.csv"), "--limit", "max_abs_value=1e16"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 12  # the limit, raised, lets 2e15 through


# ---- the studio: /upload (the same files) and /predict (the same text)

# (id, bundle, route, body: a file of the bad folder or text, --limit items, status, message parts); ?name=mine.*
SERVER_CASES = [
    ("upload-series-1e308", "fc", "/upload", "big.csv", [], 422, ["mine.csv:32:", "1e308", "max_abs_value=1e+15"]),
    ("upload-series-inf", "fc", "/upload", "inf.csv", [], 422, ["mine.csv:32:", "not a finite number"]),
    ("upload-series-over-limit", "fc", "/upload", "over.csv", [], 422, ["mine.csv:32:", "2e15"]),
    ("upload-series-non-finite-output", "fc", "/upload", "e30.csv", ["max_abs_value=1e300"], 422, ["non-finite"]),
    ("upload-series-empty-lines", "fc", "/upload", "\n\n", [], 422, ["mine.csv", "empty"]),
    ("predict-series-1e308", "fc", "/predict", "big.csv", [], 422, [":32:", "1e308", "max_abs_value"]),
    ("upload-sessions-words", "logs", "/upload", "words.txt", [], 422, ["mine.txt:2:", "'hello' is not an integer"]),
    ("upload-sessions-blank-lines", "logs", "/upload", "\n\n", [], 422, ["mine.txt:1:", "empty session"]),
    ("predict-session-words", "logs", "/predict", "hello world", [], 422, ["'hello world' is not a session"]),
    ("predict-session-path", "logs", "/predict", "my/sessions.txt", [], 422, ["is not a session"]),
    ("upload-calls-words", "calls", "/upload", "calls-words.txt", [], 422, ["mine.txt:2:", "'calls.txt'"]),
    ("predict-calls-path", "calls", "/predict", "calls.txt", [], 422, ["'calls.txt' is not a non-negative"]),
]


@pytest.mark.parametrize("case", SERVER_CASES, ids=[c[0] for c in SERVER_CASES])
def test_server_refuses_with_4xx_json(bundles, case):
    _, which, route, body, limit, status, parts = case
    d = bundles["d"]
    data = (d / body).read_bytes() if (d / body).is_file() else body.encode()
    name = "mine.csv" if which == "fc" else "mine.txt"
    limits.configure(limit)
    try:
        # 60 CSV rows are ~2200 characters: above the server's default text limit, which is not what is tested
        app = create_app(bundles[which], Limits(max_chars=20_000))
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            if route == "/upload":
                r = client.post(route, params={"name": name}, content=data,
                                headers={"Content-Type": "application/octet-stream"})
            else:
                r = client.post(route, json={"text": data.decode()})
    finally:
        limits.reset()
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for part in parts:
        assert part in message, (part, message)
