"""Recipes sized for the data they are given, and one-line warnings where the data is too small for them.

A shipped config is sized for its benchmark, thousands of examples. The same recipe on a user's set of tens
would take one optimizer step per epoch: 60 epochs are 60 steps, and a patience of 10 epochs ends the run
after 16 steps, before a CTC model has left its all-blank start. So before training (train.adapt = true, the
default) the trainer resizes what depends on the number of training examples n:

    batch_size   at most n / MIN_STEPS_PER_EPOCH (never under MIN_BATCH, nor over the config's): an epoch
                 has at least 8 optimizer steps
    epochs       raised until the run has train.min_steps steps (counted in steps, not epochs)
    warmup_steps at most a tenth of the run
    the model    `Task.adapt(n)`: sizes, augmentation, regularisation the task's recipe scales with n

A large set keeps its recipe unchanged (every rule only lowers a value, or raises epochs that were too few
to reach min_steps). Each change is printed in one line and recorded in the run's config.json (and so in
its bundle); `train.adapt=false` keeps the config's values. The rules are idempotent: a resumed run
applies them to its recorded config and gets the same values.

Warnings (whatever train.adapt): fewer than MIN_VALID validation examples (early stopping and the choice
of the best epoch rest on them), or none while train.patience is set (it then never fires), each naming
the setting that changes it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from rnnlab.config import RunConfig

MIN_STEPS_PER_EPOCH = 8
MIN_BATCH = 4
MIN_VALID = 20
WARMUP_SHARE = 0.1


def adapted_batch_size(batch_size: int, n_train: int) -> int:
    """The batch for n_train examples: the config's, or smaller so an epoch has MIN_STEPS_PER_EPOCH steps."""
    if n_train >= batch_size * MIN_STEPS_PER_EPOCH:
        return batch_size
    return min(batch_size, max(MIN_BATCH, n_train // MIN_STEPS_PER_EPOCH))


def adapt_batch(cfg: RunConfig, n_train: int) -> dict[str, tuple[Any, Any]]:
    """Step 1, before the batches are made: train.batch_size. {key: (old, new)} of what changed."""
    tc = cfg.train
    if not tc.adapt:
        return {}
    new = adapted_batch_size(tc.batch_size, n_train)
    changes = {"train.batch_size": (tc.batch_size, new)} if new != tc.batch_size else {}
    tc.batch_size = new
    return changes


def adapt_length(cfg: RunConfig, steps_per_epoch: int) -> dict[str, tuple[Any, Any]]:
    """Step 2, once an epoch's steps are known: train.epochs (to reach train.min_steps) and
    train.warmup_steps (at most a tenth of the run)."""
    tc = cfg.train
    if not tc.adapt:
        return {}
    changes = {}
    epochs = max(tc.epochs, math.ceil(tc.min_steps / max(1, steps_per_epoch)))
    if epochs != tc.epochs:
        changes["train.epochs"] = (tc.epochs, epochs)
        tc.epochs = epochs
    warmup = min(tc.warmup_steps, int(WARMUP_SHARE * steps_per_epoch * tc.epochs))
    if warmup != tc.warmup_steps:
        changes["train.warmup_steps"] = (tc.warmup_steps, warmup)
        tc.warmup_steps = warmup
    return changes


def adapt_model(cfg: RunConfig, task: Any, n_train: int) -> dict[str, tuple[Any, Any]]:
    """Step 3, before the model is built: the task's own rules (`Task.adapt`), applied to cfg.model."""
    if not cfg.train.adapt:
        return {}
    changes = {}
    for key, value in task.adapt(n_train).items():
        old = getattr(cfg.model, key)
        if value != old:
            changes[f"model.{key}"] = (old, value)
            setattr(cfg.model, key, value)
    return changes


def describe(changes: dict[str, tuple[Any, Any]], n_train: int) -> str:
    """The one line a run prints for its adaptations ("" when none)."""
    if not changes:
        return ""
    return (f"adapted to {n_train} training examples: "
            + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changes.items())
            + " (train.adapt=false keeps the config's values)")


def warnings(cfg: RunConfig, n_valid: int) -> list[str]:
    """One line per way the data is too small for the recipe to be meaningful, naming what to change."""
    fields = {f.name for f in dataclasses.fields(cfg.data)}
    where = " or ".join(f"data.{k}" for k in ("valid", "valid_fraction") if k in fields) or "the valid split"
    out = []
    if n_valid == 0 and cfg.train.patience:
        out.append(f"warning: no validation examples, so train.patience = {cfg.train.patience} never stops the run "
                   f"and the last epoch is kept: give some with {where}")
    elif 0 < n_valid < MIN_VALID:
        out.append(f"warning: only {n_valid} validation examples (fewer than {MIN_VALID}): early stopping and the "
                   f"choice of the best epoch rest on them; give more with {where}")
    return out
