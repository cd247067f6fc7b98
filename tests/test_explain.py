"""rnnlab.explain: eval mode, gradient x input, the predicted class's log-odds, trace layout."""
import math

import pytest
import torch
from torch import nn

from rnnlab.explain import eval_mode, gradient_x_input, predicted_log_odds, trace_layers


def test_eval_mode_restores_the_mode():
    model = nn.Dropout(0.5).train()
    with eval_mode(model):
        assert not model.training
    assert model.training
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError
    assert model.training


def test_gradient_x_input_of_a_linear_score_is_exact():
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 4), torch.randn(4)
    out, influence = gradient_x_input(x, lambda e: (e * w).sum(-1), lambda s: s.sum())  # s (B, T)
    assert torch.allclose(influence, (x * w).sum(-1)) and torch.allclose(out, (x * w).sum(-1))
    assert x.grad is None  # the caller's tensor is left alone


def test_examples_in_a_batch_keep_their_own_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    x = torch.randn(3, 5, 4)

    def run(e):
        return net(e).sum(1)  # (B, 3)

    def objective(o):
        return predicted_log_odds(o).sum()

    _, batch = gradient_x_input(x, run, objective)
    for b in range(3):
        _, alone = gradient_x_input(x[b:b + 1], run, objective)
        assert torch.allclose(batch[b], alone[0], atol=1e-6)


def test_predicted_log_odds():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    # row 2 ties: the other 1 is among the others
    assert predicted_log_odds(logits).tolist() == pytest.approx([2 - math.log(2), 1 - math.log(1 + math.e)])


def test_trace_layers_groups_by_layer_and_direction():
    t = torch.arange(6.0).view(1, 3, 2)  # (1, T, H)
    traced = {"output": t, "h_n": t, "l0.h": t, "l0.c": t + 1, "l0.in_gate": t * 0, "l0_reverse.h": t,
              "l1.h": t, "l1.update_gate": t}
    layers = trace_layers(traced)
    assert [(l["layer"], l["direction"]) for l in layers] == [(0, "backward"), (0, "forward"), (1, "forward")]
    first = layers[1]
    assert first["h"] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]] and first["c"][0] == [1.0, 2.0]
    assert list(first["gates"]) == ["in_gate"] and list(layers[2]["gates"]) == ["update_gate"]
