"""memory.json -> PNG plots and report.md. Every sentence of the report is computed from the numbers.

Plots (matplotlib, Agg backend: no display needed):
    metric_vs_length.png     one panel per task: final metric against T / delay, one line per cell
    gradient_<task>.png      rows: at init / after training; columns: cells; one line per length;
                             ‖∂L/∂x_t‖ against the distance T-1-t on a log scale
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from rnnlab.memory.gradient import FLOAT32_TINY, decay_summary

CELL_NAMES = {"rnn_tanh": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
COLORS = {"rnn_tanh": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}

# Published anchors (Li et al. 2018, "Independently Recurrent Neural Network (IndRNN)", CVPR).
ANCHOR_SOURCE = "Li et al. 2018 (IndRNN, CVPR), as quoted in shared/data/README.md"
ANCHOR_LSTM_MNIST_ERROR = 0.018


def write_outputs(result: dict, out: Path) -> list[Path]:
    """Write the plots and report.md for a (possibly partial) memory.json dict; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_metric_vs_length(result, out / "metric_vs_length.png")]
    for task in result["tasks"]:
        if any(r["task"] == task for r in result["runs"]):
            paths.append(plot_gradients(result, task, out / f"gradient_{task}.png"))
    report = out / "report.md"
    report.write_text(render_report(result))
    return paths + [report]


# ---- reading the table --------------------------------------------------------------------------

def _rows(result: dict) -> dict[tuple, dict]:
    return {(r["task"], r["length"], r["cell"]): r for r in result["table"]}


def mean_gradient_curve(result: dict, task: str, length: int, cell: str, phase: str) -> list[float] | None:
    """The gradient curve averaged over seeds (geometric mean: the curves span many decades).
    NaN where any seed's float32 gradient underflowed: there the curve stops."""
    curves = [r["gradient"][phase] for r in result["runs"]
              if r["task"] == task and r["length"] == length and r["cell"] == cell]
    if not curves:
        return None
    mean = []
    for d in range(len(curves[0])):
        values = [c[d] for c in curves]
        ok = all(v > FLOAT32_TINY for v in values)
        mean.append(math.exp(statistics.fmean(math.log(v) for v in values)) if ok else math.nan)
    return mean


def gradient_summary(result: dict, task: str, length: int, cell: str, phase: str) -> dict | None:
    """decay_summary of every seed's curve, combined: geometric means of the per-step factor and of the
    first/last ratio (None if any seed's first-step gradient underflowed), fewest measurable steps."""
    runs = [r for r in result["runs"] if r["task"] == task and r["length"] == length and r["cell"] == cell]
    sums = [decay_summary(r["gradient"][phase]) for r in runs]
    if not sums or any(s["factor_per_step"] is None for s in sums):
        return None

    def gmean(key):
        values = [s[key] for s in sums]
        if any(v is None or v <= 0 for v in values):
            return None
        return math.exp(statistics.fmean(math.log(v) for v in values))

    return {"factor_per_step": gmean("factor_per_step"), "first_over_last": gmean("first_over_last"),
            "measurable_steps": min(s["measurable_steps"] for s in sums), "length": len(runs[0]["gradient"][phase])}


def refresh_gradient_summaries(result: dict) -> bool:
    """Recompute each run's stored gradient_summary from its curves; True if any changed."""
    changed = False
    for r in result["runs"]:
        fresh = {phase: decay_summary(r["gradient"][phase]) for phase in ("init", "trained")}
        if r.get("gradient_summary") != fresh:
            r["gradient_summary"], changed = fresh, True
    return changed


# ---- plots --------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_vs_length(result: dict, path: Path) -> Path:
    plt = _pyplot()
    tasks = list(result["tasks"])
    rows = _rows(result)
    cells = result["config"]["cells"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        info = result["tasks"][task]
        lengths = info["lengths"]
        if task == "digits":  # one length: bars per cell
            for i, cell in enumerate(cells):
                r = rows.get((task, lengths[0], cell))
                if r:
                    ax.bar(i, r["mean"], yerr=[[r["mean"] - r["min"]], [r["max"] - r["mean"]]],
                           color=COLORS.get(cell), capsize=4)
            ax.set_xticks(range(len(cells)), [CELL_NAMES.get(c, c) for c in cells])
            ax.set_ylim(0, 1)
            ax.set_title(f"digits, {lengths[0]} pixels one per step")
        else:
            for cell in cells:
                pts = [(L, rows[(task, L, cell)]) for L in lengths if (task, L, cell) in rows]
                if pts:
                    # Bars span min..max over seeds (a mean ± std bar can cross zero on the log axis).
                    ax.errorbar([p[0] for p in pts], [p[1]["mean"] for p in pts],
                                yerr=[[p[1]["mean"] - p[1]["min"] for p in pts],
                                      [p[1]["max"] - p[1]["mean"] for p in pts]],
                                marker="o", capsize=3, color=COLORS.get(cell), label=CELL_NAMES.get(cell, cell))
            if min(lengths) > 0:
                ax.set_xscale("log")
            ax.set_xticks(lengths, [str(L) for L in lengths])
            ax.minorticks_off()
            ax.set_xlabel(info["length_name"])
            ax.set_title("adding problem" if task == "adding" else "recall after noise (copy)")
            if task == "adding":
                ax.set_yscale("log")
            ax.legend()
        ax.axhline(info["chance"], color="gray", ls=":", label="chance")
        ax.axhline(info["solved_threshold"], color="black", ls="--", lw=0.8)
        ax.set_ylabel(f"final {info['metric']} (mean; bars: min-max over seeds)")
        ax.grid(alpha=0.3)
    fig.suptitle("Final metric against sequence length (dotted: chance, dashed: 'solved' threshold)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gradients(result: dict, task: str, path: Path) -> Path:
    plt = _pyplot()
    cells = result["config"]["cells"]
    lengths = result["tasks"][task]["lengths"]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(2, len(cells), figsize=(4.6 * len(cells), 7), squeeze=False, sharey="row")
    for row, phase in enumerate(("init", "trained")):
        for col, cell in enumerate(cells):
            ax = axes[row][col]
            for i, L in enumerate(lengths):
                g = mean_gradient_curve(result, task, L, cell, phase)
                if g:
                    ax.plot(range(len(g)), g, color=cmap(i / max(1, len(lengths) - 1)), lw=1,
                            label=f"{result['tasks'][task]['length_name']}={L}")
            ax.set_yscale("log")
            ax.set_title(f"{CELL_NAMES.get(cell, cell)}, "
                         f"{'at initialisation' if phase == 'init' else 'after training'}")
            ax.set_xlabel("distance from the last step, T-1-t")
            if col == 0:
                ax.set_ylabel("‖∂L/∂x_t‖ (mean over sequences)")
            ax.grid(alpha=0.3, which="both")
            if len(lengths) > 1 and ax.get_lines():
                ax.legend(fontsize=7)
    import textwrap

    title = (f"{task}: how much the loss depends on the input t steps back "
             f"(mean over seeds; a curve stops where float32 underflows, ~1e-38)")
    fig.suptitle(textwrap.fill(title, width=int(55 * len(cells))))  # one narrow column would cut it off
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---- report -------------------------------------------------------------------------------------

def _fmt(task: str, x: float) -> str:
    return f"{x:.4f}" if task == "adding" else f"{100 * x:.1f} %"


def _lengths_phrase(lengths: list[int], name: str) -> str:
    if not lengths:
        return "none"
    return ", ".join(f"{name} = {L}" for L in lengths)


def _solved_sets(result: dict, task: str, cell: str):
    rows = _rows(result)
    all_, some, none = [], [], []
    for L in result["tasks"][task]["lengths"]:
        r = rows.get((task, L, cell))
        if r is None:
            continue
        (all_ if r["solved_seeds"] == r["seeds"] else some if r["solved_seeds"] else none).append(L)
    return all_, some, none


def render_report(result: dict) -> str:
    cfg, tasks, rows = result["config"], result["tasks"], _rows(result)
    cells = cfg["cells"]
    runs_done = len(result["runs"])
    lines = ["# Memory lab: how far back can each cell remember?", ""]
    planned = result.get("runs_planned", runs_done)
    partial = f" — PARTIAL: {runs_done} of {planned} planned runs finished" if runs_done < planned else ""
    lines += [f"Generated from `memory.json` ({runs_done} runs{partial}, {result['seconds'] / 60:.1f} min on "
              f"{result['machine']['cpu_count']} CPUs with {result['machine']['workers']} worker processes, "
              f"torch {result['versions']['torch']}). Command: `{result['command'] or 'rnnlab memory'}`.", ""]
    lines += ["## Setup", ""]
    lines += [f"- Same optimiser budget for every cell: Adam ({_lr_phrase(result)}, "
              f"gradient norm clipped at {cfg['clip']}), "
              f"at most " + ", ".join(f"{cfg['steps'][t]} steps of {cfg['batch'][t]} sequences ({t})" for t in tasks)
              + f". A run stops early once solved at {cfg['patience']} evaluations in a row "
              f"(evaluated every {cfg['eval_every']} steps on a fixed held-out set); "
              f"runs that do not solve use the whole budget.",
              f"- {cfg['seeds']} seed(s) per setting; mean ± standard deviation over seeds. "
              + ("Trained under bf16 autocast (the LSTM and RNN kernels run in bf16, torch keeps the GRU in float32); "
                 "gradients are measured in float32." if _bf16(result) else "Every cell trained in float32.")
              + (f" The LSTM's forget-gate bias starts at {cfg['forget_bias']:g}." if "forget_bias" in cfg
                 else " The LSTM's forget-gate bias starts at torch.nn's init (near 0)."),
              (f"- Adding problem: values U(0,1), one marker in the first half and one in the second (the uRNN/IndRNN "
               f"form); predicting the mean scores MSE {tasks['adding']['chance']:.3f}; solved = MSE < 0.01.")
              if "adding" in tasks else "",
              (f"- Recall (copy) task: {cfg['copy_length']} symbols from an alphabet of {cfg['copy_alphabet']}, "
               f"then `delay` noise symbols (from {cfg['copy_noise']} others), then {cfg['copy_length']} recall steps; "
               f"metric = accuracy over the recalled symbols, chance {100 / cfg['copy_alphabet']:.1f} %, "
               f"solved = ≥ {100 * cfg['copy_solved_accuracy']:.0f} %.")
              if "copy" in tasks else "",
              (f"- Sequential digits: scikit-learn's 8×8 digits, one pixel per step (64 steps), fixed stratified split "
               f"{tasks['digits']['split']['train']} train / {tasks['digits']['split']['test']} test; "
               f"metric = test accuracy, "
               f"'solved' = ≥ {100 * cfg['digits_solved_accuracy']:.0f} %.") if "digits" in tasks else ""]
    lines = lines[:-3] + [ln for ln in lines[-3:] if ln != ""]  # drop the lines of tasks not run
    if cfg.get("curriculum"):
        lines.append(f"- Length curriculum (not the anchors' protocol: they train every length from scratch): before "
                     f"a run at length L the model trains on each of {_lengths_phrase(sorted(cfg['curriculum']), 'L')} "
                     f"below L in turn, each until solved on that length's validation set ({cfg['patience']} "
                     f"evaluations in a row) or for at most its own budget of steps, then at L with its weights and "
                     f"Adam's state carried over. The steps below count the last stage only; "
                     f"'Length curriculum' under the results gives every stage's.")
    lines += ["", "Parameter counts (recurrent layer + linear head), matched per task by choosing the hidden size:", "",
                  "| task | " + " | ".join(CELL_NAMES.get(c, c) for c in cells) + " |",
                  "|---|" + "---|" * len(cells)]
    for task, info in tasks.items():
        lines.append(f"| {task} | " + " | ".join(
            f"H={info['cells'][c]['hidden_size']}: {info['cells'][c]['parameters']:,}" for c in cells) + " |")
    lines.append("")

    lines += ["## Results", "",
              "Final metric, mean ± std over seeds; in brackets: seeds that solved it, "
              "and the mean step at which they first did.", ""]
    for task, info in tasks.items():
        better = "higher is better" if info["higher_is_better"] else "lower is better"
        lines += [f"**{task}** ({info['metric']}, {better}; chance {_fmt(task, info['chance'])})", "",
                  f"| {info['length_name']} | " + " | ".join(CELL_NAMES.get(c, c) for c in cells) + " |",
                  "|---|" + "---|" * len(cells)]
        for L in info["lengths"]:
            cols = []
            for c in cells:
                r = rows.get((task, L, c))
                if r is None:
                    cols.append("not run")
                    continue
                solve = f", step {r['steps_to_solve_mean']:.0f}" if r["steps_to_solve_mean"] is not None else ""
                cols.append(f"{_fmt(task, r['mean'])} ± {_fmt(task, r['std'])} "
                            f"({r['solved_seeds']}/{r['seeds']}{solve})")
            lines.append(f"| {L} | " + " | ".join(cols) + " |")
        lines.append("")

    lines += ["## What the numbers say", ""]
    for task in tasks:
        lines += _task_reading(result, task)
    lines += _curriculum_reading(result)
    lines += _gradient_reading(result)
    lines += _anchor_reading(result)
    lines += ["## Files", "",
              "- `memory.json`: configuration, machine, every run (curve, gradient curves) and the table above.",
              "- `metric_vs_length.png`: final metric against length per cell.",
              "- " + ", ".join(f"`gradient_{t}.png`" for t in tasks) + ": ‖∂L/∂x_t‖ against distance, log scale.", ""]
    return "\n".join(lines)


def _task_reading(result: dict, task: str) -> list[str]:
    info, rows, cells = result["tasks"][task], _rows(result), result["config"]["cells"]
    name = info["length_name"]
    out = []
    if task == "digits":
        L = info["lengths"][0]
        present = [(c, rows[(task, L, c)]) for c in cells if (task, L, c) in rows]
        if not present:
            return []
        ranked = sorted(present, key=lambda cr: -cr[1]["mean"])
        out.append("- Sequential digits: test accuracy " + "; ".join(
            f"{CELL_NAMES.get(c, c)} {_fmt(task, r['mean'])} ± {_fmt(task, r['std'])} "
            f"(error {100 * (1 - r['mean']):.1f} %)"
            for c, r in ranked) + f". Best: {CELL_NAMES.get(ranked[0][0], ranked[0][0])}.")
        return out + [""]
    for cell in cells:
        all_, some, none = _solved_sets(result, task, cell)
        if not (all_ or some or none):
            continue
        words = [f"- {CELL_NAMES.get(cell, cell)} on the {'adding problem' if task == 'adding' else 'recall task'}: "]
        if all_:
            words.append(f"solved by every seed at {_lengths_phrase(all_, name)}")
        else:
            words.append("solved by every seed at no length")
        if some:
            words.append(f"; by some seeds at {_lengths_phrase(some, name)}")
        if none:
            first = none[0]
            r = rows[(task, first, cell)]
            near_chance = (r["mean"] > 0.9 * info["chance"] if task == "adding"
                           else r["mean"] < info["chance"] + 0.05)
            level = ("no better than chance (predicting the mean)" if near_chance and task == "adding" else
                     "no better than chance" if near_chance else
                     "partly learned, between chance and the threshold")
            words.append(f"; not solved from {name} = {first} on (first failure: {_fmt(task, r['mean'])}, {level})"
                         if all(L >= first for L in none) else f"; not solved at {_lengths_phrase(none, name)}")
        steps = [(L, rows[(task, L, cell)]["steps_to_solve_mean"]) for L in all_ + some
                 if rows[(task, L, cell)]["steps_to_solve_mean"] is not None]
        if len(steps) >= 2:
            words.append("; steps to solve grew " + " → ".join(f"{s:.0f} ({name}={L})" for L, s in steps)
                         if steps[-1][1] > steps[0][1] else
                         "; steps to solve: " + ", ".join(f"{s:.0f} ({name}={L})" for L, s in steps))
        out.append("".join(words) + ".")
    return out + [""]


def _describe(summary: dict) -> str:
    ratio = summary["first_over_last"]
    far = (f"first/last {ratio:.1e}" if ratio is not None else
           f"underflows (< 1e-38) beyond {summary['measurable_steps'] - 1} steps back")
    return f"×{summary['factor_per_step']:.3f} per step, {far}"


def _gradient_reading(result: dict) -> list[str]:
    out = ["### Gradient flow", "",
           "‖∂L/∂x_t‖ against the distance T-1-t, summarised by the decay factor per step fitted on its log "
           "(1.0 = no fading) and the ratio between the gradient at the first and at the last step; "
           "float32 gradients below ~1e-38 underflow and are left out.", ""]
    cells = result["config"]["cells"]
    for task, info in result["tasks"].items():
        done = [L for L in info["lengths"] if any(r["task"] == task and r["length"] == L for r in result["runs"])]
        if not done:
            continue
        L = max(done)
        s = {(c, ph): gradient_summary(result, task, L, c, ph) for c in cells for ph in ("init", "trained")}
        parts = []
        for cell in cells:
            init, trained = s[(cell, "init")], s[(cell, "trained")]
            if init is None or trained is None:
                continue
            change = trained["factor_per_step"] / init["factor_per_step"]
            verb = "flatter" if change > 1.02 else "steeper" if change < 0.98 else "about the same"
            parts.append(f"{CELL_NAMES.get(cell, cell)}: at init {_describe(init)}; "
                         f"after training {_describe(trained)} ({verb})")
        if parts:
            out.append(f"- {task}, {info['length_name']} = {L}: " + "; ".join(parts) + ".")
        init = {c: s[(c, "init")]["factor_per_step"] for c in cells if s[(c, "init")] is not None}
        if len(init) >= 2:
            slowest, fastest = max(init, key=init.get), min(init, key=init.get)
            d = min(100, L - 1)
            out.append(f"  At initialisation the {CELL_NAMES.get(fastest, fastest)}'s gradient fades fastest and the "
                       f"{CELL_NAMES.get(slowest, slowest)}'s slowest: at the fitted rates, "
                       f"{d} steps back the signal is "
                       f"{init[fastest] ** d:.1e} vs {init[slowest] ** d:.1e} of its value at the last step.")
        if init.get("lstm") is not None and init["lstm"] < 0.8:
            out.append(f"  The LSTM's fast fading at initialisation (×{init['lstm']:.2f} per step) "
                       "is what torch's default init gives: all biases near 0, "
                       "so the forget gate f = σ(·) ≈ 0.5 halves the cell state at every step until training opens it "
                       "(the reason Jozefowicz et al. 2015 recommend a forget-gate bias of 1).")
        trained = {c: s[(c, "trained")]["factor_per_step"] for c in cells if s[(c, "trained")] is not None}
        if len(trained) >= 2:
            best = max(trained, key=trained.get)
            out.append(f"  After training the flattest curve is the {CELL_NAMES.get(best, best)}'s "
                       f"(×{trained[best]:.3f} per step).")
    return out + [""]


def _curriculum_reading(result: dict) -> list[str]:
    """Per run with a curriculum: each stage's steps and validation metric, then the run's own."""
    runs = [r for r in result["runs"] if r.get("curriculum")]
    if not runs:
        return []
    out = ["### Length curriculum", ""]
    for r in runs:
        stages = "; ".join(
            f"{result['tasks'][r['task']]['length_name']} = {st['length']}: "
            + (f"solved at step {st['steps_to_solve']}" if st["steps_to_solve"] is not None else "not solved")
            + f", {st['steps_trained']} steps, valid {_fmt(r['task'], st['final_valid_metric'])}"
            for st in r["curriculum"])
        own = (f"solved at step {r['steps_to_solve']}" if r["steps_to_solve"] is not None else "not solved")
        out.append(f"- {r['task']} {result['tasks'][r['task']]['length_name']} = {r['length']}, "
                   f"{CELL_NAMES.get(r['cell'], r['cell'])}, seed {r['seed']}: {stages}; then "
                   f"{result['tasks'][r['task']]['length_name']} = {r['length']}: {own}, {r['steps_trained']} steps, "
                   f"test {_fmt(r['task'], r['final_metric'])} ({r['steps_total']} steps in all).")
    return out + [""]


def _anchor_reading(result: dict) -> list[str]:
    cfg, rows, tasks = result["config"], _rows(result), result["tasks"]
    out = ["## Comparison with the published anchors", "", f"Source: {ANCHOR_SOURCE}.", ""]
    if "adding" in tasks:
        budget = cfg["steps"]["adding"] * cfg["batch"]["adding"]
        why_budget = (f"our budget is {cfg['steps']['adding']} Adam steps of {cfg['batch']['adding']} sequences "
                      f"({budget:,} sequences) per run, far less training than the paper's runs, "
                      f"and {cfg['seeds']} seed(s)"
                      + (f", even with the length curriculum ({_lengths_phrase(sorted(cfg['curriculum']), 'L')} first)"
                         if cfg.get("curriculum") else ""))
        # 1. tanh RNN fails at T = 100.
        r = rows.get(("adding", 100, "rnn_tanh"))
        if r is None:
            out.append("- *tanh RNN fails the adding problem already at T = 100*: "
                       "not measured (no tanh RNN result at T = 100).")
        else:
            failed = r["solved_seeds"] == 0
            all_, _, _ = _solved_sets(result, "adding", "rnn_tanh")
            longest = f"its longest length solved by every seed is T = {max(all_)}" if all_ else "it solved no length"
            out.append("- *tanh RNN fails the adding problem already at T = 100*: "
                       + (f"**agree** — our tanh RNN ends at MSE {r['mean']:.4f} ± {r['std']:.4f} at T = 100 "
                          f"(0/{r['seeds']} seeds solved); {longest}." if failed else
                          f"**disagree** — our tanh RNN solved T = 100 in {r['solved_seeds']}/{r['seeds']} seeds "
                          f"(MSE {r['mean']:.4f}); {longest}. Possible reasons: gradient clipping and Adam ("
                          f"{_lr_phrase(result)}) on a small network; the paper's failure is at its own settings."))
        # 2. LSTM solves a few hundred, fails at 1000.
        all_, some, none = _solved_sets(result, "adding", "lstm")
        lengths = tasks["adding"]["lengths"]
        r1000 = rows.get(("adding", 1000, "lstm"))
        hundreds = [L for L in lengths if 200 <= L <= 500 and ("adding", L, "lstm") in rows]  # measured ones
        solved_hundreds = [L for L in hundreds if L in all_ or L in some]
        if not hundreds and r1000 is None:
            out.append("- *LSTM solves the adding problem up to a few hundred steps and fails at 1,000*: not measured "
                       "(no LSTM result at T = 200-1000).")
        else:
            fail_1000 = r1000 is not None and r1000["solved_seeds"] == 0
            verdict_1000 = ("not measured at T = 1000" if r1000 is None else
                            f"at T = 1000 it {'fails too' if fail_1000 else 'solves it'} (MSE {r1000['mean']:.4f})")
            if hundreds and len(solved_hundreds) == len(hundreds) and fail_1000:
                verdict = "**agree**"
            elif fail_1000 or solved_hundreds:
                verdict = "**partly agree**"
            else:
                verdict = "**disagree**"
            longest = (max(all_ + some) if all_ or some else None)
            text = (f"- *LSTM solves the adding problem up to a few hundred steps and fails at 1,000*: "
                    f"{verdict} — our LSTM "
                    + (f"solves up to T = {longest}" if longest else "solves no length")
                    + (f" (every seed up to T = {max(all_)})" if all_ and max(all_) != longest else "")
                    + f"; {verdict_1000}."
                    + (f" With a length curriculum ({_lengths_phrase(sorted(cfg['curriculum']), 'T')} first), which "
                       "the paper does not use: its LSTM trains every length from scratch, so this row says what "
                       "the curriculum buys, not that the protocols agree." if cfg.get("curriculum") else ""))
            unsolved_hundreds = [L for L in hundreds if L not in solved_hundreds]
            if unsolved_hundreds:
                steps = [(L, rows[("adding", L, "lstm")]["steps_to_solve_mean"]) for L in all_ + some
                         if rows[("adding", L, "lstm")]["steps_to_solve_mean"] is not None]
                growth = (" The steps it needed grew with T (" + ", ".join(f"T = {L}: {s:.0f}" for L, s in steps)
                          + "), so the boundary we see is where our budget runs out, "
                            "not necessarily where the LSTM's memory does."
                          if len(steps) >= 2 and steps[-1][1] > steps[0][1] else "")
                text += (f" Where we differ ({_lengths_phrase(unsolved_hundreds, 'T')} not solved): {why_budget}."
                         + growth)
            out.append(text)
    if "adding" in tasks and "gru" in cfg["cells"] and "lstm" in cfg["cells"]:
        gru_all, _, _ = _solved_sets(result, "adding", "gru")
        lstm_all, lstm_some, _ = _solved_sets(result, "adding", "lstm")
        beyond = [L for L in gru_all if L not in lstm_all + lstm_some]
        if beyond:
            out.append(f"- Not in the anchors: our GRU solved the adding problem at {_lengths_phrase(beyond, 'T')}, "
                       "where our LSTM did not, on the same budget and parameter count."
                       + (" One difference besides the cell: under bf16 autocast torch runs the LSTM and the tanh RNN "
                          "in bf16 but keeps the GRU in float32, so the cells did not train at the same precision; "
                          "rerun with `--fp32` to separate the two." if _bf16(result) else ""))
    if "digits" in tasks:
        r = rows.get(("digits", 64, "lstm"))
        if r is not None:
            err = 1 - r["mean"]
            verdict = ("**close**" if abs(err - ANCHOR_LSTM_MNIST_ERROR) < 0.01 else
                       "**lower error than the anchor**" if err < ANCHOR_LSTM_MNIST_ERROR else
                       "**higher error than the anchor**")
            out.append(f"- *Sequential MNIST, LSTM error 1.8 %*: our LSTM's error on sequential 8×8 digits is "
                       f"{100 * err:.1f} % ± {100 * r['std']:.1f} % — {verdict}. Not the same experiment: "
                       f"64 steps instead of 784 (a far shorter memory span), "
                       f"{tasks['digits']['split']['train']:,} training images instead of 60,000, "
                       f"{cfg['steps']['digits']} steps of {cfg['batch']['digits']} images, and a "
                       f"{tasks['digits']['cells']['lstm']['parameters']:,}-parameter model; "
                       f"the comparison shows the order of magnitude, not a reproduction.")
    return out + [""]


def _bf16(result: dict) -> bool:
    """Whether the suite trained under bf16 autocast (older memory.json files say it as "bf16": true)."""
    cfg = result["config"]
    if "precision" in cfg:
        return any(r.get("precision") == "bf16" for r in result["runs"]) or cfg["precision"] == "bf16"
    return bool(cfg.get("bf16"))


def _lr_phrase(result: dict) -> str:
    """"lr 0.01" (older files: one rate for all), or the rate each cell chose from the grid."""
    cfg = result["config"]
    if "lr" in cfg:
        return f"lr {cfg['lr']}"
    chosen = result.get("lr_choice") or {}
    per = "; ".join(f"{task}: " + ", ".join(f"{cell} {lr:g}" for cell, lr in cells.items())
                    for task, cells in chosen.items())
    grid = ", ".join(f"{lr:g}" for lr in cfg["lr_grid"])
    return (f"learning rate chosen per cell from {{{grid}}} on a validation set at "
            + ", ".join(f"{t} {L}" for t, L in cfg["tune_lengths"].items() if t in cfg["tasks"])
            + (f" ({per})" if per else ""))
