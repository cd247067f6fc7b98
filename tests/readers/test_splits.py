"""Splits of one file's examples: the same indices as the tasks drew before the helpers were shared (the figures
of every committed benchmark were measured on them), file order kept, fixed by the seed alone."""
import warnings

import numpy as np
import pytest

from rnnlab.readers.splits import hold_out, hold_out_last, split_indices

# Known values, computed with the tasks' own code before it moved here: intent's and the log task's validation
# hold-out (tasks/intent.py, tasks/logs.py) and the API-call task's folds (tasks/calls.py split_indices).
HELD = {(1, 0.1): [0], (10, 0.1): [4], (10, 0.25): [4, 6], (13, 0.3): [2, 4, 7, 10], (40, 0.05): [11, 27]}
LABELS = ["a"] * 8 + ["b"] * 6 + ["c"] * 4 + ["d"] * 2
FOLDS = {
    (0, 0, 0.25, 0): {"train": [0, 1, 2, 3, 4, 6, 8, 9, 11, 12, 15, 16, 17, 18, 19], "valid": [5, 7, 10, 13, 14]},
    (4, 1, 0.2, 7): {"train": [1, 2, 3, 5, 6, 8, 9, 13, 16, 17, 18, 19], "valid": [7, 12, 15],
                     "test": [0, 4, 10, 11, 14]},
    (2, 0, 0.3, 3): {"train": [0, 2, 3, 13, 15, 17, 18], "valid": [1, 9, 12],
                     "test": [4, 5, 6, 7, 8, 10, 11, 14, 16, 19]},
    (4, 3, 0.0, 1): {"train": [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 19], "valid": [],
                     "test": [0, 3, 13, 17, 18]},
    (0, 0, 0.2, 5): {"train": [0, 1, 2, 4, 5, 7, 8, 9, 10, 12, 13, 15, 16, 17, 18, 19], "valid": [3, 6, 11, 14]},
}


def old_hold_out(n, fraction):
    """The tasks' inline code as it was (seed 0): the reference the shared helper must match."""
    order = np.random.default_rng(0).permutation(n)
    held = set(order[: max(1, round(n * fraction))].tolist())
    return [i for i in range(n) if i not in held], [i for i in range(n) if i in held]


@pytest.mark.parametrize("n, fraction", sorted(HELD))
def test_hold_out_holds_the_same_items_as_before(n, fraction):
    kept, held = hold_out(list(range(n)), fraction, seed=0)
    assert held == HELD[n, fraction]
    assert kept == [i for i in range(n) if i not in held]


def test_hold_out_matches_the_old_code_for_many_sizes():
    for n in range(1, 120, 7):
        for fraction in (0.01, 0.1, 0.2, 0.5, 0.9):
            assert hold_out(list(range(n)), fraction) == old_hold_out(n, fraction), (n, fraction)


def test_hold_out_keeps_order_and_items_and_depends_on_the_seed_alone():
    items = [f"x{i}" for i in range(50)]
    kept, held = hold_out(items, 0.2, seed=3)
    assert len(held) == 10 and sorted(kept + held) == sorted(items)
    assert kept == [x for x in items if x in kept] and held == [x for x in items if x in held]  # file order
    assert hold_out(items, 0.2, seed=3) == (kept, held)
    assert hold_out(items, 0.2, seed=4)[1] != held
    assert hold_out(items, 0.0) == (items, [])  # nothing held out: not even the one max(1, ...) would keep
    assert hold_out([], 0.1) == ([], [])


def test_hold_out_last_is_the_end_of_the_file():
    assert hold_out_last(list(range(20)), 0.25) == (list(range(15)), list(range(15, 20)))
    assert hold_out_last(list(range(9)), 0.5) == (list(range(5)), list(range(5, 9)))  # round(4.5) = 4
    assert hold_out_last(list(range(7)), 0.0) == (list(range(7)), [])
    assert hold_out_last([], 0.3) == ([], [])


def test_the_log_tasks_parts_are_as_before():
    # LogData(normal_holdout=0.25, valid_fraction=0.1) over 20 sessions, as the task cut them before
    rest, held_out = hold_out_last(list(range(20)), 0.25)
    assert held_out == [15, 16, 17, 18, 19]
    assert hold_out(rest, 0.1) == ([0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14], [2, 11])
    rest, held_out = hold_out_last(list(range(9)), 0.5)
    assert hold_out(rest, 0.3) == ([0, 1, 3], [2, 4]) and held_out == [5, 6, 7, 8]


@pytest.mark.parametrize("args", sorted(FOLDS))
def test_split_indices_are_the_same_folds_as_before(args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "d" has 2 rows for 4 folds: sklearn warns, still splits
        assert split_indices(LABELS, *args) == FOLDS[args]


def test_split_indices_cover_every_row_once_and_stratify():
    labels = ["a"] * 30 + ["b"] * 20 + ["c"] * 10
    seen_test = []
    for fold in range(5):
        parts = split_indices(labels, 5, fold, 0.25, seed=2)
        rows = parts["train"] + parts["valid"] + parts["test"]
        assert sorted(rows) == list(range(60))  # disjoint and complete
        assert [sum(labels[i] == f for i in parts["test"]) for f in "abc"] == [6, 4, 2]
        assert [sum(labels[i] == f for i in parts["valid"]) for f in "abc"] == [6, 4, 2]  # a quarter of the rest
        seen_test += parts["test"]
    assert sorted(seen_test) == list(range(60))  # every row tested in exactly one fold


def test_split_indices_fall_back_to_a_plain_split_where_a_label_is_alone():
    # "b" has one row: a stratified valid part is impossible, the fixed-seed plain split is taken (as before)
    assert split_indices(["a"] * 5 + ["b"], 0, 0, 0.34, 0) == {"train": [0, 3, 4], "valid": [1, 2, 5]}


def test_split_indices_raise_where_the_folds_cannot_be_stratified():
    with pytest.raises(ValueError):
        split_indices(["a", "a", "b", "b"], 3, 0, 0.0, 0)  # 3 folds, at most 2 rows of any label
