"""Anomaly detectors without a network, and the threshold arithmetic every detector shares.

baselines.py   detectors fit on normal sessions of event ids, each giving a continuous score per session
               (higher = more abnormal): new events, session length, unseen n-grams, count-vector nearest
               neighbour (Landauer et al. 2024 show such detectors reach F1 0.95-0.99 on HDFS)
thresholds.py  a threshold at a false-positive rate on normal scores, and cross-fitted (set on one half of
               the normal sessions, measured on the other); precision / recall / F1 at a threshold, precision
               at another test mix; ROC AUC and PR AUC (scikit-learn)
metrics.py     a detector's verdicts and scores on labelled sessions -> false-positive rate, recall, precision,
               F1, ROC / PR AUC, recall at a false-positive rate cross-fitted on halves (session_metrics)

A building block: imports no task, trainer, bundle, CLI or studio.
"""
from rnnlab.detectors.baselines import CountVectorNN, LengthDetector, NewEventDetector, NGramDetector, all_baselines
from rnnlab.detectors.metrics import ABNORMAL, NORMAL, UNLABELLED, session_metrics
from rnnlab.detectors.thresholds import (
    best_f1,
    cross_fit_at_fpr,
    curves,
    fpr_upper_bound,
    precision_at_mix,
    rates_at,
    split_halves,
    threshold_at_fpr,
)

__all__ = ["ABNORMAL", "NORMAL", "UNLABELLED", "all_baselines", "CountVectorNN", "LengthDetector", "NGramDetector",
           "NewEventDetector", "best_f1", "cross_fit_at_fpr", "curves", "fpr_upper_bound", "precision_at_mix",
           "rates_at", "session_metrics", "split_halves", "threshold_at_fpr"]
