"""rnnlab.metrics.classification against hand-computed figures."""
import pytest
import torch

from rnnlab.metrics.classification import accuracy, confusion_matrix, f1_per_class, macro_f1


def test_confusion_accuracy_and_f1():
    true = torch.tensor([0, 0, 1, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 0])
    c = confusion_matrix(true, pred, 4)  # class 3 never occurs
    assert c.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert accuracy(c) == 3 / 6
    # class 0: P 1/3, R 1/2 -> F1 0.4; class 1: P 2/3, R 2/3; class 2: 0
    assert f1_per_class(c)[:3].tolist() == pytest.approx([0.4, 2 / 3, 0.0])
    assert macro_f1(c) == pytest.approx((0.4 + 2 / 3 + 0.0) / 3)  # over the classes present (not class 3)
    halves = confusion_matrix(true[:3], pred[:3], 4) + confusion_matrix(true[3:], pred[3:], 4)
    assert torch.equal(halves, c)  # batches add up


def test_empty_split():
    c = torch.zeros(3, 3, dtype=torch.long)
    assert accuracy(c) == 0.0 and macro_f1(c) == 0.0
