"""The studio with a forecast bundle, in Chromium: a CSV uploaded through the page's file input is drawn as the
history and the forecast with its 80 % interval, one chart per forecast column. Saves
test-artifacts/studio-forecast.png."""
from __future__ import annotations

import pytest
from browsing import ARTIFACTS, needs_chromium, open_page, serve

import rnnlab
from rnnlab.bundle import save_bundle
from rnnlab.training import prepare_task, seed_everything
from tiny_series import series_config, sine_rows, write_series

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def forecast_bundle(tmp_path_factory):
    """An untrained SegRNN-style GRU with a quantile head (lookback 48, horizon 12) on the tiny sine series."""
    root = tmp_path_factory.mktemp("studio-forecast")
    cfg = series_config(write_series(root / "data"), root / "run", head="quantile")
    seed_everything(0)
    task, _ = prepare_task(cfg)
    return save_bundle(root / "run" / "bundle", task, task.build_model(), cfg, metrics={})


@pytest.fixture(scope="module")
def forecast_server(forecast_bundle):
    yield from serve(forecast_bundle)


def test_an_uploaded_csv_is_drawn_as_history_forecast_and_interval(forecast_server, forecast_bundle, browser,
                                                                   tmp_path):
    rows = sine_rows(200, start_hour=300)
    upload = tmp_path / "mine.csv"
    upload.write_text("date,a,b\n" + "\n".join(rows) + "\n")
    # what the page sends: the header and the last 48 rows (the card's data.lookback)
    want = rnnlab.load(forecast_bundle).predict(["date,a,b\n" + "\n".join(rows[-48:]) + "\n"])[0]["forecast"]

    page, errors = open_page(browser, height=1000)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(forecast_server + "/")
    page.wait_for_function("document.getElementById('model-summary').textContent.startsWith('forecast')")
    page.locator("#series-file").set_input_files(str(upload))
    page.wait_for_function("document.body.dataset.state === 'done' && "
                           "document.querySelectorAll('#forecast-charts svg.forecast-chart').length === 2")

    charts = page.locator("#forecast-charts svg.forecast-chart")
    assert [charts.nth(i).get_attribute("data-column") for i in range(2)] == ["a", "b"]
    assert charts.nth(0).get_attribute("data-steps") == "12" and charts.nth(0).get_attribute("data-history") == "48"
    for kind in ("history", "forecast", "interval"):
        assert page.locator(f"#forecast-charts path.{kind}").count() == 2
    # the forecast line: a point joining the last row read, then one point per forecast step
    d = page.locator("#forecast-charts path.forecast").first.get_attribute("d")
    assert d.count("L") == 12
    note = page.locator("#forecast-note").inner_text()
    assert f"next 12 (blue), from {want['times'][0]} to {want['times'][-1]}" in note and "80 % interval" in note
    assert not page.locator("#forecast-section").is_hidden()
    assert "error" not in (page.locator("#status").get_attribute("class") or "")
    # the trace's recurrent states are drawn too: one column per segment of 12 rows read
    assert page.locator('figure.heatmap[data-kind="h"]').first.get_attribute("data-columns") == "4"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-forecast.png"), full_page=True)
    assert errors == []
    assert all(url.startswith(forecast_server + "/") for url in requests), requests

    # a file the model cannot read: the server's one-line error on the page, and the page keeps working
    bad = tmp_path / "bad.csv"
    bad.write_text("date,a\n2021-01-01 00:00:00,1\n")
    page.locator("#series-file").set_input_files(str(bad))
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    assert "no column 'b'" in page.locator("#status").inner_text()
    page.close()
