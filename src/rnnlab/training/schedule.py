"""The learning-rate schedule and the time budget (train.max_minutes)."""
from __future__ import annotations

import math

from rnnlab.config import TrainConfig


def lr_factor(tc: TrainConfig, step: int, total_steps: int, time_progress: float = 0.0) -> float:
    """Multiplier of the base LR after `step` optimizer steps: linear warmup, then the schedule.
    With a time budget (train.max_minutes), progress is the larger of the step and time fractions, so
    the schedule reaches its end when the budget is spent however fast the machine is."""
    if tc.warmup_steps and step < tc.warmup_steps:
        return (step + 1) / tc.warmup_steps
    progress = min(1.0, max(time_progress, (step - tc.warmup_steps) / max(1, total_steps - tc.warmup_steps)))
    if tc.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if tc.schedule == "linear":
        return 1.0 - progress
    return 1.0


class TimeBudget:
    """train.max_minutes of training time (validation not counted). A run stops when one more step would
    end past the budget, judged by the slowest step so far, so training time stays within it."""

    def __init__(self, minutes: float):
        self.budget_s = minutes * 60
        self.progress = 0.0  # fraction spent: what the LR schedule reads
        self.longest_step_s = 0.0

    def __bool__(self) -> bool:
        return self.budget_s > 0

    def after_step(self, spent_s: float, step_s: float, ddp) -> bool:
        """Record a step that took `step_s`, with `spent_s` spent in all; True when time is up."""
        self.longest_step_s = max(self.longest_step_s, step_s)
        if not self:
            return False
        # one clock for all processes: the same LR everywhere and the same step to stop at
        spent_s, next_end_s = ddp.max([spent_s, spent_s + self.longest_step_s])
        self.progress = spent_s / self.budget_s
        return next_end_s > self.budget_s
