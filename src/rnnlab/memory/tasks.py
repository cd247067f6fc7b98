"""The memory lab's tasks: three ways to ask "how far back can a recurrent net remember?".

Every generator returns time-major tensors, the layout `rnnlab.Recurrent` takes by default:

    x   (T, B, I)  float inputs
    y   targets, shaped per task (see each function)

and draws its randomness from an explicit `torch.Generator`, so a (task, seed) pair always
gives the same batches.

- `adding_batch`: the adding problem (Hochreiter & Schmidhuber 1997, LSTM paper, experiment 4),
  a regression target that depends on exactly two inputs somewhere in a long sequence.
- `copy_batch`: recall a few symbols after a long stretch of noise (a copy / recall task).
- `load_digit_sequences`: scikit-learn's 8x8 handwritten digits read one pixel per step
  (64 steps), a small real-data cousin of pixel-by-pixel "sequential MNIST".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# A model that ignores the inputs and always answers E[y] = 1 scores Var(u1 + u2) = 2/12 on the
# adding problem: the "learned nothing" baseline. Solved means MSE < 0.01 (the usual threshold).
ADDING_CHANCE_MSE = 2.0 / 12.0
ADDING_SOLVED_MSE = 0.01


def adding_batch(batch: int, steps: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One batch of the adding problem.

    Each step carries two numbers (value, marker). Values are drawn from U(0, 1); exactly two steps
    carry marker 1, all others 0. The target is the sum of the two marked values.

    Marker placement: this is the form used by the uRNN (Arjovsky et al. 2016) and IndRNN (Li et
    al. 2018) papers, which our anchors come from: one marker uniformly in the first half of the
    sequence, the other uniformly in the second half. (Hochreiter & Schmidhuber 1997 used values in
    [-1, 1] and put the first marker among the first ten steps; the IndRNN form keeps their idea,
    a sum of two far-apart inputs, and is what "fails at T = 1000" refers to.)

    Returns x (T, B, 2) with x[..., 0] the values and x[..., 1] the markers, and y (B,).
    """
    if steps < 2:
        raise ValueError(f"the adding problem needs at least 2 steps, got {steps}")
    values = torch.rand(batch, steps, generator=generator)  # (B, T) ~ U(0, 1)
    half = steps // 2
    first = torch.randint(0, half, (batch,), generator=generator)  # (B,) in [0, T/2)
    second = torch.randint(half, steps, (batch,), generator=generator)  # (B,) in [T/2, T)
    markers = torch.zeros(batch, steps)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values * markers).sum(dim=1)  # (B,)
    x = torch.stack([values, markers], dim=-1).transpose(0, 1).contiguous()  # (T, B, 2)
    return x, y


@dataclass(frozen=True)
class CopyLayout:
    """The recall task's alphabet and sequence layout.

    Input symbols (one-hot, `input_size` wide):
        0 .. alphabet-1                     data symbols, the ones to remember
        alphabet .. alphabet+noise-1        noise symbols, to be ignored
        alphabet+noise                      the "recall now" marker

    One sequence, T = 2 * length + delay steps:

        | s_1 .. s_L | n_1 ........ n_delay | go go .. go |   inputs
        |            |                      | s_1 .. s_L  |   targets (scored only here)

    The model reads L data symbols, then `delay` random noise symbols, then L "go" markers during
    which it must output s_1 .. s_L in order. A model that remembers nothing guesses uniformly:
    chance accuracy is 1 / alphabet.
    """

    length: int = 5
    alphabet: int = 8
    noise: int = 4

    @property
    def input_size(self) -> int:
        return self.alphabet + self.noise + 1

    @property
    def chance_accuracy(self) -> float:
        return 1.0 / self.alphabet

    def steps(self, delay: int) -> int:
        return 2 * self.length + delay


def copy_batch(batch: int, delay: int, generator: torch.Generator,
               layout: CopyLayout = CopyLayout()) -> tuple[Tensor, Tensor]:
    """One batch of the recall task (see `CopyLayout` for the layout).

    Returns x (T, B, input_size) one-hot and y (L, B) long: the symbols to output at the last L steps.
    """
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    L, K = layout.length, layout.alphabet
    data = torch.randint(0, K, (batch, L), generator=generator)  # (B, L) the symbols to remember
    noise = torch.randint(K, K + layout.noise, (batch, delay), generator=generator)  # (B, delay)
    go = torch.full((batch, L), K + layout.noise)  # (B, L) the recall marker
    symbols = torch.cat([data, noise, go], dim=1)  # (B, T)
    x = torch.nn.functional.one_hot(symbols, layout.input_size).float().transpose(0, 1).contiguous()
    return x, data.t().contiguous()  # (T, B, I), (L, B)


@dataclass
class DigitSequences:
    """scikit-learn's digits as pixel sequences: x (N, 64, 1) in [0, 1], y (N,) in 0..9."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor

    @property
    def steps(self) -> int:
        return self.train_x.shape[1]


# The fixed split: stratified, 25 % test, random_state 0 (1,347 train / 450 test images).
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def load_digit_sequences() -> DigitSequences:
    """The 1,797 8x8 digits of scikit-learn (UCI optical digits test set), one pixel per step.

    Pixels are read row by row (64 steps, input size 1) and scaled from 0..16 to [0, 1]. The split
    is fixed (`DIGITS_TEST_FRACTION`, `DIGITS_SPLIT_SEED`), so every run sees the same test images.
    The data ships inside scikit-learn: no download.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (N, 64)
    labels = torch.tensor(digits.target, dtype=torch.long)  # (N,)
    train_idx, test_idx = train_test_split(
        torch.arange(len(labels)).numpy(), test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED, stratify=labels.numpy())
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    seq = pixels.unsqueeze(-1)  # (N, 64, 1)
    return DigitSequences(seq[train_idx], labels[train_idx], seq[test_idx], labels[test_idx])


DIGITS_VALID_FRACTION = 0.2


def validation_split(data: DigitSequences) -> DigitSequences:
    """The training images split again (stratified, 20 % validation, the same fixed seed): what a
    learning rate is chosen on, so the test images are never seen before the measured runs."""
    from sklearn.model_selection import train_test_split

    train_idx, valid_idx = train_test_split(
        torch.arange(len(data.train_y)).numpy(), test_size=DIGITS_VALID_FRACTION,
        random_state=DIGITS_SPLIT_SEED, stratify=data.train_y.numpy())
    train_idx, valid_idx = torch.as_tensor(train_idx), torch.as_tensor(valid_idx)
    return DigitSequences(data.train_x[train_idx], data.train_y[train_idx],
                          data.train_x[valid_idx], data.train_y[valid_idx])
