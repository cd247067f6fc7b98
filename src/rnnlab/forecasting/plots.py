"""Forecast charts (matplotlib, PNG): the history read, the forecast after it, its 80 % interval as a band,
and the truth where it is known (the benchmark's test windows)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass
class Panel:
    title: str
    history: Sequence[float]  # the rows read (one column)
    forecast: Sequence[float]  # the rows after them
    truth: Sequence[float] | None = None  # what happened, when known
    lower: Sequence[float] | None = None  # the interval, when the model has one
    upper: Sequence[float] | None = None


def check_plot_path(path: str | Path, *, force: bool = False, flag: str = "--plot") -> Path:
    """Where a chart may be written, checked before anything is computed: a file name whose extension matplotlib
    writes (as it says, not a list of ours), not a directory, in a folder that exists, and not over an existing
    file without `force`. UserError naming `flag` and the path otherwise."""
    import os
    import shutil

    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    from rnnlab.errors import UserError

    path = Path(path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())  # e.g. pdf, png, svg (what savefig takes)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; give a file name such as {path / 'forecast.png'}")
    ext = path.suffix[1:].lower()
    if ext not in formats:
        said = f"matplotlib cannot write .{ext} files" if ext else "no extension to say the format"
        raise UserError(f"{flag} {path}: {said}; it writes {', '.join(formats)} (e.g. forecast.png)")
    texsystem = matplotlib.rcParams["pgf.texsystem"]
    if ext == "pgf" and shutil.which(texsystem) is None:  # matplotlib lists pgf, but writing it runs LaTeX
        raise UserError(f"{flag} {path}: .pgf needs {texsystem}, which is not installed; choose .pdf or .png")
    parent = path.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a directory"
        raise UserError(f"{flag} {path}: the folder {parent} {why}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{flag} {path}: the folder {parent} is not writable")
    if path.exists() and not force:
        raise UserError(f"{path} exists: choose another {flag} file, or pass --force to overwrite it")
    return path


def plot_panels(path: str | Path, panels: list[Panel], columns: int = 1, title: str = "") -> Path:
    """One subplot per panel, x = steps relative to the forecast's start (history negative)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 2.6 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        n, h = len(panel.history), len(panel.forecast)
        ax.plot(range(-n, 0), panel.history, color="0.35", lw=1, label="history")
        if panel.truth is not None:
            ax.plot(range(len(panel.truth)), panel.truth, color="black", lw=1, label="truth")
        if panel.lower is not None and panel.upper is not None:
            ax.fill_between(range(h), panel.lower, panel.upper, color="tab:blue", alpha=0.2, label="80 % interval")
        ax.plot(range(h), panel.forecast, color="tab:blue", lw=1.3, label="forecast")
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_title(panel.title, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
