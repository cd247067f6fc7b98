"""Classification metrics from a confusion matrix (rows: the true class, columns: the predicted one)."""
from __future__ import annotations

import torch
from torch import Tensor


def confusion_matrix(true: Tensor, pred: Tensor, num_classes: int) -> Tensor:
    """(C, C) long counts [true, predicted] of class ids true (N,) and pred (N,); add them up over batches."""
    flat = true.cpu() * num_classes + pred.cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def accuracy(confusion: Tensor) -> float:
    """The fraction predicted right (0.0 for no examples)."""
    return int(confusion.diag().sum()) / max(int(confusion.sum()), 1)


def f1_per_class(confusion: Tensor) -> Tensor:
    """(C,) F1 of each class; 0 where a class is never predicted or never true."""
    tp = confusion.diag().float()
    precision = tp / confusion.sum(0).clamp(min=1)
    recall = tp / confusion.sum(1).clamp(min=1)
    return 2 * precision * recall / (precision + recall).clamp(min=1e-12)


def macro_f1(confusion: Tensor) -> float:
    """The mean F1 over the classes that occur in the true labels (0.0 when none does)."""
    present = confusion.sum(1) > 0
    return f1_per_class(confusion)[present].mean().item() if present.any() else 0.0
