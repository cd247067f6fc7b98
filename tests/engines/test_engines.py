"""The engine table: each engine one file, registered in one place; a new engine needs nothing else."""
from dataclasses import dataclass

import pytest
import torch

from rnnlab import engines
from rnnlab.engines import ENGINES, Engine, get_engine, register, tracing_engine
from rnnlab.layers import Recurrent, RecurrentConfig, build_recurrent


def test_the_table_holds_fused_and_glass_and_glass_traces():
    assert list(ENGINES)[:2] == ["fused", "glass"]
    assert ENGINES["fused"].trace is None and ENGINES["glass"].trace is not None
    assert tracing_engine().name == "glass"


def test_an_unknown_engine_is_refused_naming_the_table():
    with pytest.raises(ValueError, match="'fused', 'glass'"):
        get_engine("turbo")
    with pytest.raises(ValueError, match="engine must be one of"):
        Recurrent("gru", 3, 4, engine="turbo")


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="registered already"):
        register(Engine("fused", ENGINES["fused"].run))


@pytest.fixture
def torch_nn_engine():
    """A third engine, one function: run the layer through torch.nn's own module sharing its weights."""
    def run(layer, x, state, lengths):
        assert lengths is None, "this toy engine takes full-length batches only"
        return layer.to_torch()(x, state)

    entry = register(Engine("torch_nn", run, summary="torch.nn's module over the same parameters"))
    yield entry
    del engines.ENGINES["torch_nn"]


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_a_registered_engine_runs_any_layer_and_agrees_with_the_others(torch_nn_engine, mode):
    torch.manual_seed(0)
    layer = Recurrent(mode, 5, 6, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 7, 5)
    outputs = {}
    for name in ("fused", "glass", "torch_nn"):
        layer.engine = name
        outputs[name] = layer(x)[0]
    torch.testing.assert_close(outputs["torch_nn"], outputs["fused"], rtol=0, atol=0)
    torch.testing.assert_close(outputs["glass"], outputs["fused"], rtol=1e-5, atol=1e-6)
    # tracing is the glass engine's, whatever the layer's own engine is
    assert "l0.reset_gate" in layer.trace(x) if mode == "gru" else "output" in layer.trace(x)


@dataclass
class _TaskModelConfig:  # what a task's [model] table looks like: more keys than the recurrent stack's
    cell: str = "gru"
    embed_size: int = 16
    hidden_size: int = 8
    num_layers: int = 2
    dropout: float = 0.25
    engine: str = "glass"


def test_recurrent_config_reads_a_task_config_and_builds_the_stack():
    cfg = RecurrentConfig.of(_TaskModelConfig(), bidirectional=True)
    assert cfg == RecurrentConfig("gru", 8, 2, True, 0.25, "glass")
    assert cfg.output_size == 16  # hidden_size is per direction
    torch.manual_seed(1)
    built = build_recurrent(cfg, 16)
    torch.manual_seed(1)
    by_hand = Recurrent("gru", 16, 8, num_layers=2, bidirectional=True, batch_first=True, dropout=0.25,
                        engine="glass")
    assert built.extra_repr() == by_hand.extra_repr()
    for (name, a), (_, b) in zip(built.state_dict().items(), by_hand.state_dict().items()):
        assert torch.equal(a, b), name


def test_one_layer_gets_no_between_layer_dropout():
    layer = build_recurrent(RecurrentConfig("lstm", 4, 1, dropout=0.3), 3)
    assert layer.dropout == 0.0 and layer(torch.randn(2, 5, 3))[0].shape == (2, 5, 4)
