"""What a trained network did with an input: evaluation mode, traces of its recurrent layers, and how
much each input step pushed its decision (gradient x input). Used by the tasks' predict/trace and the
studio; knows nothing of any one task."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`model` in eval mode for the block (no dropout), then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
