"""System-call intrusion detection on ADFA-LD (issue #32): classic baselines, and the recurrent recipe's row when it
is asked for, on one split and scored by one function.

    python benchmarks/syscalls.py                      # baselines (the default: --skip-network)
    python benchmarks/syscalls.py --network            # + the network of configs/adfa.toml (trained here)
    python benchmarks/syscalls.py --network --seeds 3  # + seeds 1 and 2: their ensemble's row beside the single run
    python benchmarks/syscalls.py --network --variant "model.cell=gru"   # + a variant's row, and the ensemble of
                                                       # the recipe and its variants (network_models)
    python benchmarks/syscalls.py --data DIR --out X   # another ADFA-layout folder (the tests' toy traces)

Data: $RNNLAB_DATA/adfa-ld (Creech & Hu 2013): Training_Data_Master/ (833 normal traces), Validation_Data_Master/
(4,372 normal), Attack_Data_Master/<Type>_<run>/ (746 attack traces, 6 types); one trace per file, the call numbers
space-separated.

Protocol (the same for every row):
- fit: Training only. A seeded 20 % of Training (split_training: HOLDOUT, SPLIT_SEED) is held out as normal
  traces the detectors never fit on; the other 80 % is what they fit on.
- settings (STIDE's window k, the features and hyper-parameters of the one-class models and of k-NN) are chosen
  without any attack trace: on the held-out normal traces against synthetic anomalies made from them
  (synthetic_anomalies: in each held-out trace a block of SYNTH_FRACTION of its calls replaced by calls drawn from
  the training calls' own frequencies, seeded, SYNTH_COPIES per trace): the setting with the best recall at 1 %
  FPR there, ties broken by ROC AUC there, then by grid order (the conventional setting first).
- thresholds: set at FPR 1 % and 5 % on the held-out normal traces (rnnlab.detectors.threshold_at_fpr: flag
  score > t), then applied unchanged to the test set.
- test: Validation (normal) + Attack (anomalous), scored once per detector with its chosen setting: ROC AUC and
  PR AUC; at each held-out threshold the recall and the test FPR it gives (measured); recall per attack type.
Every row comes from detector_row(), which takes per-trace scores (held-out normal, test normal, test attack): a
network's row is the same call on its scores. With --network (network_scores) configs/adfa.toml trains on the fit
part (data.train: symbolic links to those traces, no copy), its validation split is the held-out part (early
stopping and the recipe's own threshold: normal Training traces only), and its session score (model.score) scores
the held-out and test traces; the same thresholds and figures follow.

Test is scored once per detector, for the setting chosen on held-out Training data (no setting's test figure is
computed otherwise); the network's AUC target is judged against the chosen baselines.

Ensembles (Kim et al. 2016 joined models of different sizes): every member's scores standardised on its held-out
normal traces and averaged (ensemble_scores). network_ensemble: the recipe's seeds; network_models: the recipe and
its variants (--variant); ensemble_all (with --network): every network and every baseline, each weighted by
max(0, its ROC AUC on held-out normal vs synthetic anomalies - 0.5) (synthetic_weights): Training data sets every
weight. The targets judge the recipe's single run.

Baselines (scikit-learn where it fits):
- stide: Forrest et al. 1996 / Warrender et al. 1999: every window of k consecutive calls of the fit traces is
  stored; a trace's score is the fraction of its windows never stored (a trace shorter than k is one window).
- ocsvm, iforest: call-frequency vectors (per-trace counts of each call seen in fit, plus one column for calls
  never seen; L1-normalised "freq", or sublinear tf-idf "tfidf": sklearn TfidfTransformer) with sklearn's
  OneClassSVM (rbf) and IsolationForest; score = -decision_function / -score_samples.
- knn: the mean distance to the k nearest fit vectors (sklearn NearestNeighbors), euclidean or cosine.

Writes benchmarks/results/adfa.json (command, machine, data and split, per detector its figures and the setting
chosen with the held-out selection table, anchors, targets) and adfa_roc.png (test ROC curves with each
detector's operating points at the held-out thresholds).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import lmbench  # noqa: E402

ROOT = benchcommon.ROOT
CONFIG = ROOT / "configs" / "adfa.toml"
ANCHORS = {"Kim et al. 2016 (LSTM system-call language models, ensemble of models and thresholding classifiers), "
           "ADFA-LD, train on Training, test Validation + Attack": {"roc_auc": 0.928}}
ATTACK_TYPES = ("Adduser", "Hydra_FTP", "Hydra_SSH", "Java_Meterpreter", "Meterpreter", "Web_Shell")
FPRS = (0.01, 0.05)
BASELINES = ("stide", "ocsvm", "iforest", "knn")  # the rows the network's targets are judged against
HOLDOUT, SPLIT_SEED = 0.2, 0
SYNTH_FRACTION, SYNTH_COPIES, SYNTH_SEED = 0.05, 3, 1
TARGET_AUC = 0.93
STIDE_K = (6, 2, 3, 4, 5, 8, 10, 12)  # Forrest et al.'s 6 first: it wins ties
FEATURES = ("freq", "tfidf")
OCSVM_GRID = [{"features": f, "nu": nu, "gamma_x": g} for f in FEATURES for nu in (0.05, 0.01, 0.1)
              for g in (1.0, 0.1, 10.0)]  # gamma = gamma_x * sklearn's "scale"
IFOREST_GRID = [{"features": f, "max_samples": m} for f in FEATURES for m in ("auto", 1.0)]
KNN_GRID = [{"features": f, "k": k, "metric": m} for f in FEATURES for k in (1, 3, 5) for m in ("euclidean", "cosine")]

Trace = list  # of int call numbers


# ---------------------------------------------------------------------------------------------------- data

def data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    if not os.environ.get("RNNLAB_DATA"):
        raise SystemExit("RNNLAB_DATA is not set: it must hold adfa-ld/ (or give --data)")
    return Path(os.environ["RNNLAB_DATA"]) / "adfa-ld"


def read_trace(path: Path) -> Trace:
    return [int(c) for c in path.read_text().split()]


def attack_type(folder: str) -> str:
    """Attack_Data_Master/<Type>_<run>: "Hydra_FTP_3" -> "Hydra_FTP"."""
    kind, _, run = folder.rpartition("_")
    if not kind or not run.isdigit():
        raise ValueError(f"an attack folder is named <Type>_<run>, got {folder!r}")
    return kind


def read_adfa(root: Path) -> dict[str, Any]:
    """{"train": [...], "validation": [...], "attack": [...], "attack_types": [...], "names": {split: [...]}}; files
    in sorted order, so the seeded split is the same on every machine."""
    out: dict[str, Any] = {"names": {}}
    for split, folder in (("train", "Training_Data_Master"), ("validation", "Validation_Data_Master")):
        files = sorted(p for p in (root / folder).iterdir() if p.is_file())
        if not files:
            raise SystemExit(f"no traces in {root / folder}")
        out[split] = [read_trace(p) for p in files]
        out["names"][split] = [p.name for p in files]
    attacks, kinds, names = [], [], []
    for sub in sorted(p for p in (root / "Attack_Data_Master").iterdir() if p.is_dir()):
        for p in sorted(q for q in sub.iterdir() if q.is_file()):
            attacks.append(read_trace(p))
            kinds.append(attack_type(sub.name))
            names.append(f"{sub.name}/{p.name}")
    if not attacks:
        raise SystemExit(f"no attack traces in {root / 'Attack_Data_Master'}")
    out.update(attack=attacks, attack_types=kinds)
    out["names"]["attack"] = names
    return out


def split_training(n: int, fraction: float = HOLDOUT, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) sorted indices of the training traces: a seeded round(fraction * n) held out (at least 2)."""
    held = max(2, int(round(fraction * n)))
    if held >= n:
        raise ValueError(f"{n} training traces cannot spare {held} held-out ones")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def synthetic_anomalies(traces: Sequence[Trace], fit: Sequence[Trace], fraction: float = SYNTH_FRACTION,
                        copies: int = SYNTH_COPIES, seed: int = SYNTH_SEED) -> list[Trace]:
    """For choosing settings without attacks: each trace `copies` times with one block of max(1, fraction * len)
    consecutive calls replaced by calls drawn (seeded) from the calls of the fit traces at their own frequencies:
    known calls, in an order normal use may not have."""
    counts = Counter(c for t in fit for c in t)
    calls = np.array(sorted(counts))
    p = np.array([counts[c] for c in calls], dtype=np.float64)
    p /= p.sum()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(copies):
        for t in traces:
            t = list(t)
            n = max(1, int(round(fraction * len(t))))
            start = int(rng.integers(0, max(len(t) - n, 0) + 1))
            t[start:start + n] = [int(c) for c in rng.choice(calls, size=n, p=p)]
            out.append(t)
    return out


# ----------------------------------------------------------------------------------------------- detectors

class Stide:
    """Forrest et al.'s lookup: the windows of k calls of the fit traces; score = share of a trace's windows never
    seen (0 = all seen; a trace shorter than k is one window)."""

    def __init__(self, k: int):
        self.k = k

    def _windows(self, t: Trace) -> list[tuple[int, ...]]:
        if len(t) <= self.k:
            return [tuple(t)]
        return [tuple(t[i:i + self.k]) for i in range(len(t) - self.k + 1)]

    def fit(self, traces: Sequence[Trace]) -> "Stide":
        self.known = {w for t in traces for w in self._windows(t)}
        return self

    def score(self, traces: Sequence[Trace]) -> np.ndarray:
        out = np.empty(len(traces))
        for i, t in enumerate(traces):
            w = self._windows(t)
            out[i] = sum(x not in self.known for x in w) / len(w) if w else 1.0
        return out


class Frequencies:
    """Per-trace call counts (sklearn CountVectorizer over the calls of the fit traces) plus a column counting calls
    never seen there; "freq": L1-normalised, "tfidf": sublinear tf-idf (idf from the fit traces), L2-normalised."""

    def __init__(self, kind: str):
        if kind not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {kind!r}")
        self.kind = kind

    def _counts(self, traces: Sequence[Trace]) -> np.ndarray:
        known = self.vectorizer.transform(traces).toarray().astype(np.float64)
        unseen = np.array([len(t) for t in traces], dtype=np.float64) - known.sum(axis=1)
        return np.c_[known, unseen]

    def fit(self, traces: Sequence[Trace]) -> "Frequencies":
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self.vectorizer = CountVectorizer(analyzer=_identity).fit(traces)
        if self.kind == "tfidf":
            self.tfidf = TfidfTransformer(sublinear_tf=True).fit(self._counts(traces))
        return self

    def transform(self, traces: Sequence[Trace]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        counts = self._counts(traces)
        if self.kind == "tfidf":
            return self.tfidf.transform(counts).toarray()
        return normalize(counts, norm="l1")


def _identity(x):
    return x


def ocsvm(setting: dict[str, Any]) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def fit(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        from sklearn.svm import OneClassSVM

        scale = 1.0 / (x.shape[1] * x.var()) if x.var() > 0 else 1.0  # sklearn's gamma="scale"
        model = OneClassSVM(kernel="rbf", nu=setting["nu"], gamma=setting["gamma_x"] * scale).fit(x)
        return lambda y: -model.decision_function(y)
    return fit


def iforest(setting: dict[str, Any]) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def fit(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        from sklearn.ensemble import IsolationForest

        model = IsolationForest(n_estimators=300, max_samples=setting["max_samples"], random_state=0).fit(x)
        return lambda y: -model.score_samples(y)
    return fit


def knn(setting: dict[str, Any]) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def fit(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        from sklearn.neighbors import NearestNeighbors

        model = NearestNeighbors(n_neighbors=min(setting["k"], len(x)), metric=setting["metric"]).fit(x)
        return lambda y: model.kneighbors(y)[0].mean(axis=1)
    return fit


# ------------------------------------------------------------------------------------------------ figures

def _r(x: float) -> float:
    return round(float(x), 4)


def detector_row(heldout: Sequence[float], test_normal: Sequence[float], test_attack: Sequence[float],
                 attack_types: Sequence[str], fprs: Sequence[float] = FPRS) -> dict[str, Any]:
    """Every figure of one detector from its per-trace scores (higher = more anomalous): the thresholds are set on
    `heldout` (normal traces the detector never fit on) alone and applied unchanged to the test traces; ROC / PR
    AUC on the test traces; per attack type the recall at each threshold."""
    from rnnlab.detectors import curves, rates_at, threshold_at_fpr

    heldout, normal, attack = (np.asarray(s, dtype=np.float64) for s in (heldout, test_normal, test_attack))
    kinds = np.asarray(attack_types)
    if len(kinds) != len(attack):
        raise ValueError(f"{len(kinds)} attack types for {len(attack)} attack scores")
    if not (np.isfinite(heldout).all() and np.isfinite(normal).all() and np.isfinite(attack).all()):
        raise ValueError("scores must be finite")
    row: dict[str, Any] = {k: _r(v) for k, v in curves(normal, attack).items()}
    for fpr in fprs:
        t = threshold_at_fpr(heldout, fpr)
        test = rates_at(t, normal, attack)
        held = rates_at(t, heldout, [])
        row[f"at_heldout_fpr_{fpr:g}"] = {
            "threshold": float(t), "heldout_fpr": _r(held["fpr"]), "heldout_fp": held["fp"],
            "test_fpr": _r(test["fpr"]), "test_fp": test["fp"], "recall": _r(test["recall"]), "tp": test["tp"],
            "precision": _r(test.get("precision", 0.0)), "f1": _r(test.get("f1", 0.0)),
            "per_attack_type": {k: {"recall": _r((attack[kinds == k] > t).mean()), "tp": int((attack[kinds == k] > t)
                                                                                           .sum()),
                                    "traces": int((kinds == k).sum())} for k in sorted(set(kinds.tolist()))}}
    row["counts"] = {"heldout_normal": len(heldout), "test_normal": len(normal), "test_attack": len(attack)}
    return row


def selection_figures(heldout: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """What a setting is chosen by: recall of the synthetic anomalies at the held-out 1 % threshold, and ROC AUC
    of held-out normal against synthetic."""
    from rnnlab.detectors import curves, rates_at, threshold_at_fpr

    return {"synthetic_recall_at_1pct": _r(rates_at(threshold_at_fpr(heldout, 0.01), heldout, synthetic)["recall"]),
            "synthetic_roc_auc": _r(curves(heldout, synthetic)["roc_auc"])}


def choose(table: list[dict[str, Any]]) -> int:
    """The index of the best setting: recall at 1 %, then AUC, then the first in grid order."""
    best = max(range(len(table)), key=lambda i: (table[i]["synthetic_recall_at_1pct"], table[i]["synthetic_roc_auc"],
                                                 -i))
    return best


def select_and_score(name: str, grid: list[dict[str, Any]],
                     make: Callable[[dict[str, Any]], Callable[[Sequence[Trace]], np.ndarray]],
                     fit: list[Trace], heldout: list[Trace], synthetic: list[Trace],
                     test_normal: list[Trace], test_attack: list[Trace]) -> dict[str, Any]:
    """Try every setting of `grid` on held-out normal vs synthetic (no test trace seen), keep the best, score the
    test traces once with it. `make(setting)` fits on `fit` and returns a scorer of traces."""
    t0 = time.perf_counter()
    table, scorers = [], []
    for setting in grid:
        scorer = make(setting)
        scorers.append(scorer)
        table.append({**setting, **selection_figures(scorer(heldout), scorer(synthetic))})
    best = choose(table)
    scorer = scorers[best]
    scores = {"heldout": scorer(heldout), "synthetic": scorer(synthetic), "test_normal": scorer(test_normal),
              "test_attack": scorer(test_attack)}
    seconds = round(time.perf_counter() - t0, 1)
    print(f"[{name}] chose {grid[best]} of {len(grid)} settings ({seconds:.1f} s)", flush=True)
    return {"setting": grid[best], "selection": table, "scores": scores, "seconds": seconds}


def baselines(fit: list[Trace], heldout: list[Trace], synthetic: list[Trace], test_normal: list[Trace],
              test_attack: list[Trace]) -> dict[str, dict[str, Any]]:
    """{name: select_and_score(...)} for stide, ocsvm, iforest, knn."""
    features = {kind: Frequencies(kind).fit(fit) for kind in FEATURES}
    vectors = {kind: {id(part): f.transform(part) for part in (fit, heldout, synthetic, test_normal, test_attack)}
               for kind, f in features.items()}

    def on_vectors(model: Callable) -> Callable[[dict[str, Any]], Callable[[Sequence[Trace]], np.ndarray]]:
        def make(setting: dict[str, Any]) -> Callable[[Sequence[Trace]], np.ndarray]:
            v = vectors[setting["features"]]
            score = model(setting)(v[id(fit)])
            return lambda traces: score(v[id(traces)])
        return make

    def stide(setting: dict[str, Any]) -> Callable[[Sequence[Trace]], np.ndarray]:
        return Stide(setting["k"]).fit(fit).score

    parts = (fit, heldout, synthetic, test_normal, test_attack)
    assert tuple(BASELINES) == ("stide", "ocsvm", "iforest", "knn")
    return {"stide": select_and_score("stide", [{"k": k} for k in STIDE_K], stide, *parts),
            "ocsvm": select_and_score("ocsvm", OCSVM_GRID, on_vectors(ocsvm), *parts),
            "iforest": select_and_score("iforest", IFOREST_GRID, on_vectors(iforest), *parts),
            "knn": select_and_score("knn", KNN_GRID, on_vectors(knn), *parts)}


# ------------------------------------------------------------------------------------------------ network

def link_traces(folder: Path, root: Path, names: Sequence[str]) -> Path:
    """A folder of symbolic links to the named Training traces (no copy of the data), for the recipe's reader."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name in names:
        (folder / name).symlink_to((root / "Training_Data_Master" / name).resolve())
    return folder


def network_scores(data: dict[str, Any], root: Path, fit_idx: np.ndarray, held_idx: np.ndarray, runs: Path,
                   threads: int, overrides: list[str], command: str, seed: int | None = None,
                   synthetic: Sequence[Trace] = (), tag: str = "") -> dict[str, Any]:
    """The recurrent recipe's row on this benchmark's split: configs/adfa.toml trained on the fit part of Training
    (data.train: links to those traces), its validation split (early stopping, and the recipe's own threshold when
    it sets one) = the held-out part (data.valid), and the held-out, Validation and Attack traces scored with the
    recipe's session score (task.verdict(...)["score"], the recipe's model.score); the synthetic anomalies too (an
    ensemble weighs its members by them). {"scores": {...}, "facts": {...}}. `tag` names the run directory of a
    variant (other overrides)."""
    import torch

    import rnnlab
    from rnnlab.config import load_config
    from rnnlab.training import train

    if not CONFIG.exists():
        raise SystemExit(f"--network: {CONFIG.name} does not exist yet; run with --skip-network")
    torch.set_num_threads(threads)
    names = data["names"]["train"]
    fit_dir = link_traces(runs / "adfa-split" / "fit", root, [names[i] for i in fit_idx])
    held_dir = link_traces(runs / "adfa-split" / "heldout", root, [names[i] for i in held_idx])
    run_dir = runs / ("bench-adfa" + (f"-{tag}" if tag else "") + ("" if seed is None else f"-seed{seed}"))
    cfg = load_config(CONFIG, [f"data.train={fit_dir}", f"data.valid={held_dir}",
                               f"data.test_normal={root / 'Validation_Data_Master'}",
                               f"data.test_abnormal={root / 'Attack_Data_Master'}", *overrides,
                               *([f"train.seed={seed}"] if seed is not None else []),
                               f"run_dir={run_dir}", "train.progress=false", f"train.threads={threads}"])
    clock = lmbench.Clock()
    summary = train(cfg, overwrite=True, command=command, echo=lambda line: print(f"[network] {line}", flush=True))
    trained = clock.report()
    predictor = rnnlab.load(run_dir / "bundle")
    task = predictor.task

    def score(traces: Sequence[Trace]) -> np.ndarray:
        scored = task.score_sessions(predictor.model, [[str(c) for c in t] for t in traces])
        return np.array([task.verdict(s)["score"] for s in scored], dtype=np.float64)

    t0 = time.perf_counter()
    scores = {"heldout": score([data["train"][i] for i in held_idx]), "synthetic": score(list(synthetic)),
              "test_normal": score(data["validation"]), "test_attack": score(data["attack"])}
    m = cfg.model
    facts = {"config": f"configs/{CONFIG.name}", "overrides": overrides,
             **{k: getattr(m, k) for k in ("cell", "window", "hidden_size", "num_layers", "score", "verdict",
                                           "min_count") if hasattr(m, k)},
             "parameters": summary.get("parameters"), "epochs_run": summary.get("epochs_run"),
             "best_epoch": summary.get("best_epoch"), "train_minutes": round(summary["train_time_s"] / 60, 2),
             "train_clock": trained, "score_s": round(time.perf_counter() - t0, 1),
             "recipe_threshold": getattr(task, "threshold", None), "seed": cfg.train.seed,
             "trained_on": "the fit part of Training (links); validation = the held-out part"}
    return {"scores": scores, "facts": facts}


def ensemble_scores(members: list[dict[str, np.ndarray]], weights: Sequence[float] | None = None
                    ) -> dict[str, np.ndarray]:
    """Kim et al.'s ensemble of models, on scores: each member's scores standardised by its own held-out normal
    traces (mean, standard deviation: Training data only), then averaged per trace (weighted by `weights` when
    given). Members trained with other seeds disagree on scale; after standardising, each says how unusual a trace
    is for it, in the same units."""
    w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != len(members) or not (w >= 0).all() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(members)} numbers >= 0, not all 0; got {list(w)}")
    out: dict[str, np.ndarray] = {}
    for part in ("heldout", "synthetic", "test_normal", "test_attack"):
        if not all(part in m for m in members):
            continue
        z = []
        for m in members:
            mu, sd = float(np.mean(m["heldout"])), float(np.std(m["heldout"])) or 1.0
            z.append((np.asarray(m[part], dtype=np.float64) - mu) / sd)
        out[part] = np.average(z, axis=0, weights=w)
    return out


def synthetic_weights(members: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Each member's weight in the mixed ensemble: how far above chance it tells held-out normal traces from the
    synthetic anomalies made of them, max(0, ROC AUC - 0.5). Training data only: a member no better than chance
    there (an isolation forest) weighs nothing; no attack or test trace sets a weight."""
    from rnnlab.detectors import curves

    return {name: max(0.0, curves(m["heldout"], m["synthetic"])["roc_auc"] - 0.5) for name, m in members.items()}


# ---------------------------------------------------------------------------------------------------- plot

def plot(rows: dict[str, dict[str, Any]], scores: dict[str, dict[str, np.ndarray]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, zoom in zip(axes, (False, True)):
        for i, (name, s) in enumerate(scores.items()):
            y = np.r_[np.zeros(len(s["test_normal"])), np.ones(len(s["test_attack"]))]
            fpr, tpr, _ = roc_curve(y, np.r_[s["test_normal"], s["test_attack"]])
            color = f"C{i}"
            label = f"{name} (AUC {rows[name]['roc_auc']:.3f})"
            ax.plot(fpr, tpr, color=color, label=label, linewidth=2.4 if name == "network" else 1.3)
            for fp, marker in zip(FPRS, ("o", "s")):
                at = rows[name][f"at_heldout_fpr_{fp:g}"]
                ax.plot(at["test_fpr"], at["recall"], marker, color=color, markersize=6, markeredgecolor="black")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel="false-positive rate on Validation (normal)", ylabel="recall on Attack",
               xlim=(0, 0.2 if zoom else 1), ylim=(0, 1.01))
        ax.set_title("ADFA-LD test ROC" + (" (FPR <= 0.2)" if zoom else "") +
                     "\nmarkers: thresholds set at 1 % (o) / 5 % (s) FPR on held-out Training traces", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------- main

def verdicts(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, row in rows.items():
        a1, a5 = row["at_heldout_fpr_0.01"], row["at_heldout_fpr_0.05"]
        worst = min(a1["per_attack_type"].items(), key=lambda kv: kv[1]["recall"])
        lines.append(f"{name}: ROC AUC {row['roc_auc']:.4f}; held-out 1 % threshold: recall {a1['recall']:.4f} at "
                     f"test FPR {a1['test_fpr']:.4f}; 5 %: recall {a5['recall']:.4f} at test FPR {a5['test_fpr']:.4f};"
                     f" weakest type at 1 %: {worst[0]} {worst[1]['recall']:.4f}")
    base = {n: r for n, r in rows.items() if n in BASELINES}
    best = max(base, key=lambda n: base[n]["roc_auc"])
    lines.append(f"best baseline by ROC AUC: {best} {base[best]['roc_auc']:.4f} (anchor: Kim et al. 2016, 0.928)")
    if "network" in rows:
        who = "at or above" if rows["network"]["roc_auc"] >= base[best]["roc_auc"] else "below"
        lines.append(f"network ROC AUC {rows['network']['roc_auc']:.4f}: {who} the best baseline")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="an ADFA-LD folder (default: $RNNLAB_DATA/adfa-ld)")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--skip-network", dest="network", action="store_false", default=False,
                     help="baselines only (the default)")
    net.add_argument("--network", dest="network", action="store_true",
                     help=f"also train configs/{CONFIG.name} and add its row")
    p.add_argument("--runs", default="runs", help="where the network's run directory goes")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the network")
    p.add_argument("--seeds", type=int, default=1,
                   help="with --network: also train seeds 1..N-1 and add their ensemble's row (network_ensemble); "
                        "the single run (the config's seed) stays the row the targets judge")
    p.add_argument("--variant", action="append", default=[], metavar="OVERRIDES",
                   help="with --network: also train the recipe with these overrides (space-separated, e.g. "
                        "\"model.cell=gru\"), a row each, and the ensemble of the recipe and its variants "
                        "(network_models); repeatable")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "adfa.json"))
    p.add_argument("overrides", nargs="*", help="config overrides for the network (--network), e.g. model.score=q95")
    args = p.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/syscalls.py " + " ".join(shlex.quote(a) for a in given)
    root = data_dir(args.data)
    clock = lmbench.Clock()
    data = read_adfa(root)
    fit_idx, held_idx = split_training(len(data["train"]))
    fit = [data["train"][i] for i in fit_idx]
    heldout = [data["train"][i] for i in held_idx]
    synthetic = synthetic_anomalies(heldout, fit)
    test_normal, test_attack, kinds = data["validation"], data["attack"], data["attack_types"]
    known = {c for t in fit for c in t}
    fit_set = {tuple(t) for t in fit}
    runs = baselines(fit, heldout, synthetic, test_normal, test_attack)
    network: dict[str, Any] | None = None
    baseline_runs = runs
    if args.network:
        train_net = lambda extra=(), **kw: network_scores(  # noqa: E731
            data, root, fit_idx, held_idx, Path(args.runs), args.threads, list(args.overrides) + list(extra),
            command, synthetic=synthetic, **kw)
        network = train_net()
        nets = {"network": network}  # every trained network: the recipe, its other seeds, the variants
        seeds = [network] + [train_net(seed=k) for k in range(1, args.seeds)]
        nets.update({f"network_seed{k}": m for k, m in enumerate(seeds[1:], start=1)})
        variants = {f"network[{v}]": train_net(v.split(), tag=f"v{i}") for i, v in enumerate(args.variant, start=1)}
        nets.update(variants)
        runs = {"network": {"scores": network["scores"], "facts": network["facts"]}}
        if len(seeds) > 1:
            runs["network_ensemble"] = {"scores": ensemble_scores([m["scores"] for m in seeds]),
                                        "facts": {"members": [m["facts"] for m in seeds],
                                                  "how": ensemble_scores.__doc__.split(". ")[0]}}
        runs.update({name: {"scores": m["scores"], "facts": m["facts"]} for name, m in variants.items()})
        if variants:  # Kim et al.'s ensemble of different models: the recipe and each variant, equal weights
            runs["network_models"] = {"scores": ensemble_scores([network["scores"]]
                                                                + [m["scores"] for m in variants.values()]),
                                      "facts": {"members": ["network", *variants],
                                                "how": ensemble_scores.__doc__.split(". ")[0]}}
        # every network and every baseline, each weighted by how well it tells held-out normal traces from
        # synthetic anomalies (Training data only)
        members = {**{n: m["scores"] for n, m in nets.items()}, **{n: r["scores"] for n, r in baseline_runs.items()}}
        weights = synthetic_weights(members)
        if sum(weights.values()) > 0:
            runs["ensemble_all"] = {"scores": ensemble_scores(list(members.values()), list(weights.values())),
                                    "facts": {"members": list(members), "weights": {n: _r(w) for n, w in
                                                                                    weights.items()},
                                              "how": synthetic_weights.__doc__.split(": ")[0] + "; "
                                                     + ensemble_scores.__doc__.split(". ")[0]}}
        runs.update(baseline_runs)
    rows: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        s = run["scores"]
        rows[name] = {**detector_row(s["heldout"], s["test_normal"], s["test_attack"], kinds),
                      **{k: run[k] for k in ("setting", "selection", "seconds", "facts") if k in run}}
    lengths = lambda traces: {"median": int(np.median([len(t) for t in traces])),  # noqa: E731
                              "min": min(len(t) for t in traces), "max": max(len(t) for t in traces)}
    result: dict[str, Any] = {
        "benchmark": "adfa", "command": command, "machine": lmbench.machine(), "anchors": ANCHORS,
        "data": {"folder": str(root) if args.data else "$RNNLAB_DATA/adfa-ld",
                 "train_traces": len(data["train"]), "validation_traces": len(test_normal),
                 "attack_traces": len(test_attack),
                 "attack_traces_per_type": dict(sorted(Counter(kinds).items())),
                 "trace_length": {"train": lengths(data["train"]), "validation": lengths(test_normal),
                                  "attack": lengths(test_attack)},
                 "calls_seen_in_fit": len(known),
                 "validation_traces_with_a_call_unseen_in_fit": sum(any(c not in known for c in t)
                                                                    for t in test_normal),
                 "attack_traces_with_a_call_unseen_in_fit": sum(any(c not in known for c in t) for t in test_attack),
                 "heldout_traces_identical_to_a_fit_trace": sum(tuple(t) in fit_set for t in heldout),
                 "validation_traces_identical_to_a_fit_trace": sum(tuple(t) in fit_set for t in test_normal)},
        "split": {"fit_traces": len(fit), "heldout_normal_traces": len(heldout), "holdout_fraction": HOLDOUT,
                  "split_seed": SPLIT_SEED, "heldout_names": [data["names"]["train"][i] for i in held_idx],
                  "synthetic_anomalies": {"traces": len(synthetic), "fraction_replaced": SYNTH_FRACTION,
                                          "copies_per_heldout_trace": SYNTH_COPIES, "seed": SYNTH_SEED}},
        "protocol": {
            "fit": "Training only: the detectors fit on the fit part; the held-out part is never fit on",
            "selection": "each baseline's setting chosen on held-out normal traces against synthetic anomalies "
                         "made from them (a block of 5 % of the calls replaced by calls drawn at the fit calls' "
                         "frequencies): best recall at 1 % FPR there, then ROC AUC there, then grid order. No attack "
                         "and no test trace is used to choose anything",
            "thresholds": "set at FPR 1 % and 5 % on the held-out normal traces (flag score > threshold), then "
                          "applied unchanged to the test traces; test_fpr is measured on Validation",
            "test": "Validation (normal) + Attack (anomalous), each detector scored once with its chosen setting"},
        "network": None if network is None else network["facts"],
        "detectors": rows,
    }
    if network is None:
        result["network_absent"] = ("baselines only (--skip-network, the default): the recurrent recipe "
                                    f"(configs/{CONFIG.name}) is not in this run, so no network figure and no "
                                    "network target is recorded")
    targets = []
    if "network" in rows:
        base = {n: r for n, r in rows.items() if n in baseline_runs}
        best = max(base, key=lambda n: base[n]["roc_auc"])
        targets = [benchcommon.target("network_roc_auc", rows["network"]["roc_auc"], TARGET_AUC, ">="),
                   benchcommon.target("network_roc_auc_vs_best_baseline", rows["network"]["roc_auc"],
                                      base[best]["roc_auc"], ">=", baseline=best,
                                      how="against each baseline at the setting chosen on held-out Training "
                                          "traces (no test label)")]
    else:
        result["targets_pending"] = [f"network_roc_auc >= {TARGET_AUC}",
                                     "network_roc_auc_vs_best_baseline (>= every baseline's ROC AUC)"]
    result["verdicts"] = verdicts(rows)
    result["clock"] = clock.report()
    result["targets"] = targets
    out = Path(args.out)
    lmbench.write_json(out, result)
    plot(rows, {n: r["scores"] for n, r in runs.items()}, out.with_name(out.stem + "_roc.png"))
    print("\n".join(result["verdicts"]))
    print(benchcommon.describe(targets) if targets else "targets: none measured (no network row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
