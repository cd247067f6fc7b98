"""The memory lab's task generators: layouts, targets and fixed splits."""
import torch

from rnnlab.memory import tasks as T


def test_adding_targets_are_the_sum_of_the_two_marked_values():
    x, y = T.adding_batch(64, 30, torch.Generator().manual_seed(0))
    assert x.shape == (30, 64, 2) and y.shape == (64,)
    values, markers = x[..., 0], x[..., 1]  # (T, B)
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers.sum(dim=0) == 2).all()  # exactly two markers per sequence
    # one marker in each half
    assert (markers[:15].sum(dim=0) == 1).all() and (markers[15:].sum(dim=0) == 1).all()
    torch.testing.assert_close(y, (values * markers).sum(dim=0))


def test_adding_is_reproducible_and_chance_mse_is_the_variance_of_the_sum():
    a = T.adding_batch(8, 10, torch.Generator().manual_seed(3))
    b = T.adding_batch(8, 10, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    _, y = T.adding_batch(20000, 10, torch.Generator().manual_seed(1))
    # Predicting the mean (1.0) scores Var(u1 + u2) = 1/6.
    assert abs(float(((y - 1.0) ** 2).mean()) - T.ADDING_CHANCE_MSE) < 0.01


def test_copy_layout_data_then_noise_then_recall_markers():
    layout = T.CopyLayout(length=4, alphabet=6, noise=3)
    delay = 7
    x, y = T.copy_batch(16, delay, torch.Generator().manual_seed(0), layout)
    steps = layout.steps(delay)
    assert steps == 2 * 4 + 7
    assert x.shape == (steps, 16, layout.input_size) and y.shape == (4, 16)
    assert torch.equal(x.sum(-1), torch.ones(steps, 16))  # one-hot at every step
    symbols = x.argmax(-1)  # (T, B)
    assert torch.equal(symbols[:4], y)  # the targets are the first L symbols
    assert ((y >= 0) & (y < 6)).all()
    noise = symbols[4:4 + delay]
    assert ((noise >= 6) & (noise < 9)).all()  # noise comes from its own symbols
    assert (symbols[4 + delay:] == 9).all()  # then L "recall now" markers
    assert layout.chance_accuracy == 1 / 6


def test_copy_with_zero_delay_is_allowed():
    x, y = T.copy_batch(2, 0, torch.Generator().manual_seed(0))
    assert x.shape[0] == 10 and y.shape == (5, 2)


def test_digits_split_is_fixed_stratified_and_scaled():
    d = T.load_digit_sequences()
    assert d.steps == 64
    assert len(d.train_y) == 1347 and len(d.test_y) == 450
    assert d.train_x.shape == (1347, 64, 1)
    assert float(d.train_x.min()) == 0.0 and float(d.train_x.max()) == 1.0
    assert torch.bincount(d.test_y, minlength=10).min() >= 40  # every class in the test split
    again = T.load_digit_sequences()
    assert torch.equal(again.test_x, d.test_x) and torch.equal(again.test_y, d.test_y)
