"""Which of a file's examples form which split, when a config names one file for several splits.

hold_out       a fixed `fraction` of the items, drawn by a seeded permutation (validation held out of train)
hold_out_last  the LAST `fraction` of the items, in file order (normal sessions never trained on)
split_indices  stratified: fold `fold` of a `folds`-fold split as test, a stratified fraction of the rest as
               valid (cross-validation through the ordinary trainer; a benchmark's baseline shares the folds)

Every split is a pure function of its arguments (never of the training seed): a run, its resume and its
evaluation all see the same examples in each split, and both parts keep the items' file order. The
indices these give are part of every committed benchmark figure: changing them changes the figures.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def hold_out(items: Sequence[T], fraction: float, seed: int = 0) -> tuple[list[T], list[T]]:
    """(kept, held): the first max(1, round(n * fraction)) positions of a permutation seeded by `seed` are held
    out (fraction 0: none), each part in the items' order."""
    if fraction == 0:
        return list(items), []
    order = np.random.default_rng(seed).permutation(len(items))  # (n,)
    held = set(order[: max(1, round(len(items) * fraction))].tolist())
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def hold_out_last(items: Sequence[T], fraction: float) -> tuple[list[T], list[T]]:
    """(kept, held): the last round(n * fraction) items are held out. Not shuffled: a file in time order
    then tests on what came after everything it trained on."""
    cut = len(items) - round(len(items) * fraction)
    return list(items[:cut]), list(items[cut:])


def split_indices(labels: Sequence[str], folds: int, fold: int, valid_fraction: float,
                  seed: int) -> dict[str, list[int]]:
    """Sorted row indices of "train" / "valid" (/ "test") for `labels`: with folds > 1, fold `fold` of a stratified
    `folds`-fold split (scikit-learn's StratifiedKFold, shuffled by `seed`) is "test"; `valid_fraction` of the rest,
    stratified where every label can be, is "valid". Raises ValueError where the folds cannot be stratified (a
    label with fewer rows than folds)."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    y = np.array(labels)
    index, out = np.arange(len(y)), {}
    if folds:
        index, test = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(index, y))[fold]
        out["test"] = sorted(test.tolist())
    if valid_fraction == 0:
        return {"train": sorted(index.tolist()), "valid": [], **out}
    try:
        train, valid = train_test_split(index, test_size=valid_fraction, stratify=y[index], random_state=seed)
    except ValueError:
        # a label with a single row cannot be stratified: a plain fixed-seed split instead
        train, valid = train_test_split(index, test_size=valid_fraction, random_state=seed)
    return {"train": sorted(train.tolist()), "valid": sorted(valid.tolist()), **out}
