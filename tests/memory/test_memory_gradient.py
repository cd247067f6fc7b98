"""Gradient-vs-distance measurement against cases whose answer is known in closed form."""
import math

import torch

from rnnlab import Recurrent
from rnnlab.memory.gradient import decay_summary, input_gradient_norms, measurable


def test_linear_rnn_gradient_decays_geometrically():
    # h_t = a h_{t-1} + b x_t, L = h_T  =>  dL/dx_t = b a^(T-1-t): exactly geometric in the distance.
    a, b, steps = 0.7, 2.0, 12

    def forward(x):  # x (T, B, 1) -> h_T (B,)
        h = torch.zeros(x.shape[1], dtype=x.dtype)
        for x_t in x.unbind(0):
            h = a * h + b * x_t[:, 0]
        return h

    g = input_gradient_norms(forward, lambda h: h, torch.randn(steps, 5, 1))
    expected = torch.tensor([b * a ** d for d in range(steps)], dtype=torch.float64)
    torch.testing.assert_close(g, expected)
    s = decay_summary(g)
    assert math.isclose(s["factor_per_step"], a, rel_tol=1e-6)
    assert math.isclose(s["first_over_last"], a ** (steps - 1), rel_tol=1e-6)


def test_tanh_rnn_near_zero_follows_its_recurrent_weight():
    # W_hh = 0.8 I, W_ih = I, no biases, tiny inputs: tanh' ≈ 1, so ‖∂L/∂x_t‖ ∝ 0.8^(T-1-t).
    H, steps = 4, 20
    rnn = Recurrent("rnn_tanh", H, H)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.8 * torch.eye(H))
        rnn.weight_ih_l0.copy_(torch.eye(H))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    g = input_gradient_norms(lambda x: rnn(x)[0][-1], lambda h: h.sum(-1), 1e-4 * torch.randn(steps, 3, H))
    ratio = g / g[0]
    expected = torch.tensor([0.8 ** d for d in range(steps)], dtype=torch.float64)
    torch.testing.assert_close(ratio, expected, rtol=1e-3, atol=0)
    torch.testing.assert_close(g[0], torch.tensor(2.0, dtype=torch.float64), rtol=1e-3, atol=0)  # ‖(1,1,1,1)‖


def test_each_sequence_gets_its_own_gradient():
    # The loss is summed over the batch, so one sequence's gradient does not depend on the batch size.
    rnn = Recurrent("gru", 2, 5)
    x = torch.randn(7, 4, 2)

    def measure(x):
        return input_gradient_norms(lambda x: rnn(x)[0][-1], lambda h: (h ** 2).sum(-1), x)

    torch.testing.assert_close(measure(x[:, :1]), measure(torch.cat([x[:, :1]] * 3, dim=1)))


def test_underflowed_gradients_are_not_data():
    # A float32 gradient that underflowed to 0 says "below ~1e-38", not "0": the fit ignores it.
    s = decay_summary([1.0, 0.5, 0.25, 0.0, 0.0])
    assert s["measurable_steps"] == 3
    assert math.isclose(s["factor_per_step"], 0.5, rel_tol=1e-12)
    assert s["first_over_last"] is None and s["at_first_step"] is None
    assert measurable([1e-39, 1.0]) == 0 and measurable([1.0, float("nan")]) == 1
    assert decay_summary([0.0])["factor_per_step"] is None
