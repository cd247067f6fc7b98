"""`rnnlab forecast BUNDLE series.csv`: the forecast after the last row of a CSV series (and its 80 % interval
where the model has one), with a forecast bundle.

The CSV needs the bundle's time column and input columns (others are ignored) and at least the model's
lookback rows. Prints one line per future step (time, then each column's value, `[lower, upper]` with an
interval); `--json` prints the prediction schema instead; `--horizon H` keeps the first H steps (at most the
model's); `--plot out.png` draws the history and the forecast (any format matplotlib writes; the path is
checked before anything is computed; never over an existing file without --force).
A formatter over the task's predict and its declared option (horizon): `rnnlab predict BUNDLE FILE` computes the
same forecast.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnlab.cli.predict import add_runtime_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a forecast bundle directory (e.g. runs/ett/bundle)")
    p.add_argument("series", help="a CSV file: the bundle's time column and input columns, one row per step")
    p.add_argument("--horizon", type=int, default=None, metavar="H", help="forecast steps (default: the model's)")
    p.add_argument("--plot", default=None, metavar="PNG", help="draw the history and the forecast into this file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--json", action="store_true", help="print the prediction as JSON (the schema's forecast field)")
    add_runtime_argument(p)


def run(args: argparse.Namespace) -> int:
    from rnnlab.cli.predict import require_task
    from rnnlab.forecasting.plots import check_plot_path
    from rnnlab.runtime import load_predictor

    # the chart's file is checked first: a forecast computed and then lost to a bad --plot name helps nobody
    plot = check_plot_path(args.plot, force=args.force) if args.plot else None
    predictor = load_predictor(args.bundle, args.runtime)
    require_task(predictor, "forecast", "forecast", "forecast")
    # --horizon against the model's horizon and the limit max_horizon, before the CSV is read
    options = predictor.task.check_options({"horizon": args.horizon}, called={"horizon": "--horizon"})
    (name, series), = predictor.task.inputs_from_file(args.series)  # a CSV file is one input
    pred = predictor.predict([series], **options)[0]
    pred = {**pred, "text": name}
    f = pred["forecast"]
    if args.json:
        print(json.dumps(pred, ensure_ascii=False))
    else:
        print("time\t" + "\t".join(f["columns"]))
        for i, t in enumerate(f["times"]):
            cells = [f"{v:.6g}" + (f" [{f['lower'][i][j]:.6g}, {f['upper'][i][j]:.6g}]" if "lower" in f else "")
                     for j, v in enumerate(f["steps"][i])]
            print(t + "\t" + "\t".join(cells))
    if plot is not None:
        from rnnlab.forecasting.plots import Panel, plot_panels

        panels = [Panel(f"{col} after {f['history_times'][-1]}", [r[j] for r in f["history"]],
                        [r[j] for r in f["steps"]],
                        lower=[r[j] for r in f["lower"]] if "lower" in f else None,
                        upper=[r[j] for r in f["upper"]] if "upper" in f else None)
                  for j, col in enumerate(f["columns"][:12])]
        plot_panels(plot, panels, columns=1 if len(panels) < 4 else 2, title=f"{Path(args.series).name}: forecast")
    return 0
