"""What a training run is at any moment: its position in the loop and its bookkeeping.

Everything in `RunState` goes into every checkpoint (as the "position" record, whose keys are these
field names, so checkpoints written before this class existed resume too), plus the carried state of
a language model, which lives in `carry`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    step: int = 0  # steps completed in the current epoch (> 0 only mid-epoch)
    global_step: int = 0  # optimizer steps over the whole run
    epoch_loss_sum: float = 0.0  # this epoch's summed loss and item count so far (train_loss = sum / count)
    epoch_count: float = 0.0
    best: float | None = None  # the best valid value of the selection metric, and its epoch
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs in a row without improvement (early stopping)
    best_step: int = 0  # the optimizer step of the best epoch's end
    best_loss: float | None = None  # its valid loss: a tie on the metric goes to the lower loss
    first: float | None = None  # the first valid value: the plateau a run starts on (left once best beats it)
    stopped: bool = False
    stop_reason: str | None = None  # "early stop: ..." (why) | "time budget spent"
    train_time_s: float = 0.0  # training time so far, validation not counted
    # state a task carries from one batch to the next (a language model's hidden state; None for most
    # tasks): a tensor or a tuple of them. Not part of the position record (the checkpoint stores it apart).
    carry: Any = field(default=None, repr=False)

    def position(self) -> dict[str, Any]:
        """The checkpoint's "position" record."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "carry"}

    def restore(self, position: dict[str, Any]) -> None:
        known = {f.name for f in dataclasses.fields(self)} - {"carry"}
        unknown = set(position) - known
        if unknown:
            raise ValueError(f"unknown position keys {sorted(unknown)}")
        for key, value in position.items():
            setattr(self, key, value)

    def next_epoch(self) -> None:
        self.epoch, self.step, self.epoch_loss_sum, self.epoch_count = self.epoch + 1, 0, 0.0, 0.0
