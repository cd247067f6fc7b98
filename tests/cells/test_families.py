"""The table of cell families (rnnlab.cells.families): complete, consistent with the cells, torch.nn
and Recurrent; resolve_cell's aliases and errors; and layers.py never asks which cell it runs."""
import ast
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import rnnlab.layers
from rnnlab import Recurrent
from rnnlab.cells import CELL_ALIASES, CELL_NAMES, FAMILIES, CellFamily, resolve_cell

B, I, H = 3, 4, 5

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: tiny tensors, 1 thread


def _weights(family, bias=True, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = family.gate_count * H
    w_ih, w_hh = torch.randn(rows, I, generator=g, dtype=dtype), torch.randn(rows, H, generator=g, dtype=dtype)
    if not bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, torch.randn(rows, generator=g, dtype=dtype), torch.randn(rows, generator=g, dtype=dtype)


def _state(family, dtype=torch.float64, seed=1, batch=B):
    g = torch.Generator().manual_seed(seed)
    return family.state_from_parts(tuple(torch.randn(batch, H, generator=g, dtype=dtype)
                                         for _ in family.state_names))


def test_the_table_holds_the_four_families_under_their_own_names():
    assert CELL_NAMES == ("rnn_tanh", "rnn_relu", "lstm", "gru") == tuple(FAMILIES)
    for name, family in FAMILIES.items():
        assert isinstance(family, CellFamily) and family.name == name
        assert len(set(family.gates)) == family.gate_count == len(family.gates)
        assert family.state_names[0] == "h" and family.state_arity in (1, 2)
        assert set(family.state_names) <= set(family.trace_names) and "h" in family.trace_names
        assert issubclass(family.torch_class, nn.RNNBase)
    assert {n: f.gate_count for n, f in FAMILIES.items()} == {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
    assert {n: f.state_arity for n, f in FAMILIES.items()} == {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 2, "gru": 1}
    assert FAMILIES["lstm"].gates == ("in_gate", "forget_gate", "cell_candidate", "out_gate")
    assert FAMILIES["gru"].gates == ("reset_gate", "update_gate", "candidate")
    assert FAMILIES["lstm"].state_form == "a pair (h_0, c_0)" and FAMILIES["gru"].state_form == "one tensor h_0"


@pytest.mark.parametrize("mode", CELL_NAMES)
def test_gate_count_times_h_is_the_weight_rows_here_and_in_torch(mode):
    family = FAMILIES[mode]
    ours = Recurrent(mode, I, H, 2, bidirectional=True)
    theirs = family.torch_class(I, H, 2, bidirectional=True, **family.torch_kwargs)
    for name, p in ours.named_parameters():
        assert p.shape[0] == family.gate_count * H, name
        assert getattr(theirs, name).shape == p.shape, name


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("mode", CELL_NAMES)
def test_step_takes_and_returns_a_state_of_the_familys_arity(mode, bias):
    family = FAMILIES[mode]
    w_ih, w_hh, b_ih, b_hh = _weights(family, bias)
    x = torch.randn(B, I, dtype=torch.float64)
    state = _state(family)
    xw = family.input(x, w_ih, b_ih, b_hh)
    assert xw.shape == (B, family.gate_count * H)
    new_state, values = family.step(xw, state, w_hh.t(), b_hh)
    parts = family.state_parts(new_state)
    assert type(new_state) is type(state)  # a tensor h, or a tuple (h, c)
    assert len(parts) == family.state_arity and all(p.shape == (B, H) for p in parts)
    assert tuple(values) == family.trace_names
    for name, part in zip(family.state_names, parts):  # the step names its new state's parts
        assert values[name] is part


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("mode", CELL_NAMES)
def test_input_and_step_are_one_step_of_the_torch_module_and_of_the_kernel(mode, bias):
    """The table's glass functions and its kernel compute what its torch.nn class computes."""
    family = FAMILIES[mode]
    torch.manual_seed(0)
    module = family.torch_class(I, H, bias=bias, **family.torch_kwargs).double()
    x, state = torch.randn(1, B, I, dtype=torch.float64), _state(family)
    hx = _map(state, lambda s: s.unsqueeze(0))  # (1, B, H): one layer
    expected_out, expected_state = module(x, hx)
    w = Recurrent.from_torch(module).flat_weights()  # the module's own parameters, in the kernel's order
    w_ih, w_hh, b_ih, b_hh = (w[0], w[1], w[2], w[3]) if bias else (w[0], w[1], None, None)
    new_state, values = family.step(family.input(x[0], w_ih, b_ih, b_hh), state, w_hh.t(), b_hh)
    assert_close(values["h"], expected_out[0])
    for got, want in zip(family.state_parts(new_state), family.state_parts(expected_state)):
        assert_close(got, want[0])
    result = family.kernel(x, hx, w, bias, 1, 0.0, False, False, False)
    assert_close(result[0], expected_out)
    final = family.state_from_parts(result[1:])  # result: (output, h_n) or (output, h_n, c_n)
    for got, want in zip(family.state_parts(final), family.state_parts(expected_state)):
        assert_close(got, want)


@pytest.mark.parametrize("mode", CELL_NAMES)
def test_gate_names_follow_the_weight_blocks(mode):
    """Block k of the pre-activations drives the value named gates[k], and only it."""
    family = FAMILIES[mode]
    G = family.gate_count
    zero_state = family.state_from_parts(tuple(torch.zeros(B, H, dtype=torch.float64) for _ in family.state_names))
    w_hh_t = torch.zeros(H, G * H, dtype=torch.float64)  # no recurrent share: each gate sees its block only
    _, baseline = family.step(torch.zeros(B, G * H, dtype=torch.float64), zero_state, w_hh_t, None)
    for k, gate in enumerate(family.gates):
        xw = torch.zeros(B, G * H, dtype=torch.float64)
        xw[:, k * H:(k + 1) * H] = 1.5
        _, values = family.step(xw, zero_state, w_hh_t, None)
        changed = {g for g in family.gates if not torch.equal(values[g], baseline[g])}
        assert changed == {gate}, (k, changed)


@pytest.mark.parametrize("mode", CELL_NAMES)
def test_the_layers_trace_names_are_the_tables(mode):
    family = FAMILIES[mode]
    layer = Recurrent(mode, I, H, 2, bidirectional=True)
    with torch.no_grad():
        trace = layer.trace(torch.randn(6, B, I))
    expected = {f"l{layer_}{direction}.{name}" for layer_ in (0, 1) for direction in ("", "_reverse")
                for name in family.trace_names}
    assert set(trace) == expected | {"output"} | {f"{name}_n" for name in family.state_names}


def test_each_torch_module_belongs_to_exactly_one_family():
    for name, family in FAMILIES.items():
        module = family.torch_class(I, H, **family.torch_kwargs)
        assert [n for n, f in FAMILIES.items() if f.matches(module)] == [name]
        layer = Recurrent.from_torch(module)
        assert layer.mode == name and layer.family is family
        back = layer.to_torch()
        assert type(back) is family.torch_class
        assert all(getattr(back, k) == v for k, v in family.torch_kwargs.items())
    assert not any(f.matches(nn.Linear(I, H)) for f in FAMILIES.values())


# ---- resolve_cell ------------------------------------------------------------------------------


def test_resolve_cell_takes_every_name_and_the_aliases():
    for name in CELL_NAMES:
        assert resolve_cell(name) == name
    assert CELL_ALIASES == {"rnn": "rnn_tanh"}
    assert resolve_cell("rnn") == "rnn_tanh"
    assert set(CELL_ALIASES.values()) <= set(FAMILIES) and not set(CELL_ALIASES) & set(FAMILIES)


@pytest.mark.parametrize("bad", ["foo", "LSTM", "", " lstm", "rnn_sigmoid", None, 3, ["lstm"]])
def test_resolve_cell_refuses_other_names_and_lists_the_choices(bad):
    with pytest.raises(ValueError) as info:
        resolve_cell(bad)
    message = str(info.value)
    assert message == f"cell must be one of rnn_tanh, rnn_relu, lstm, gru (or rnn = rnn_tanh), got {bad!r}"
    with pytest.raises(ValueError, match=r"^model\.cell must be one of rnn_tanh, rnn_relu, lstm, gru"):
        resolve_cell(bad, key="model.cell")


# ---- the rule: the layer does not branch on the cell -------------------------------------------

_CELL_WORD = re.compile(r"(?<![a-z])(rnn|lstm|gru)(?![a-z])")  # rnn, rnn_tanh, lstm, nn.LSTM; not rnnlab


def _offences(source: str) -> list[str]:
    """Where `source` names a cell or tests which mode it runs (docstrings and comments aside)."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}

    def is_mode(node):
        return (isinstance(node, ast.Name) and node.id == "mode") or \
               (isinstance(node, ast.Attribute) and node.attr == "mode")

    found = []
    for node in ast.walk(tree):
        line = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _CELL_WORD.search(node.value.lower()):
                found.append(f"{line}: string {node.value!r}")
        names = [node.id] if isinstance(node, ast.Name) else [node.attr] if isinstance(node, ast.Attribute) else \
            [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
        found += [f"{line}: name {n}" for n in names if _CELL_WORD.search(n.lower())]
        if isinstance(node, ast.Compare) and any(is_mode(n) for n in [node.left, *node.comparators]) \
                and any(isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)) for op in node.ops):
            found.append(f"{line}: compares the mode")
        if isinstance(node, ast.Subscript) and is_mode(node.value):
            found.append(f"{line}: slices the mode")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_mode(node.func.value):
            found.append(f"{line}: calls mode.{node.func.attr}")
    return sorted(found)


def test_layers_py_never_asks_which_cell_it_runs():
    """Every per-cell difference comes from rnnlab.cells.FAMILIES: layers.py names no cell, and
    compares, slices or parses no mode (see STYLE.md: the family knows itself)."""
    assert _offences(Path(rnnlab.layers.__file__).read_text()) == []


def test_the_rule_catches_what_it_is_for():
    assert _offences('if self.mode == "lstm":\n    pass') == ["line 1: compares the mode", "line 1: string 'lstm'"]
    assert _offences("k = nn.LSTM") == ["line 1: name LSTM"]
    assert _offences("x = mode[4:]") == ["line 1: slices the mode"]
    assert _offences("y = self.mode.startswith(p)") == ["line 1: calls mode.startswith"]
    assert _offences("from .cells import gru_step") == ["line 1: name gru_step"]
    assert _offences('"""Runs an LSTM."""\nimport rnnlab\nok = mode in CELL_NAMES') == []


def _map(state, fn):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)
