"""`Recurrent`: a multi-layer, optionally bidirectional RNN / LSTM / GRU, run by any engine of the table.

One set of parameters, named and laid out exactly as torch.nn.RNN/LSTM/GRU name them
(`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, ..., `_reverse` for the backward
direction), so a state_dict moves between `Recurrent` and torch.nn without renaming, and the engines of
`rnnlab.engines` (one file each, registered in one table) that read them:

- "fused": torch's own kernels (`torch._VF.lstm` & co., the very call nn.LSTM.forward makes:
  oneDNN on CPU, cuDNN on GPU). Fast, opaque.
- "glass": the cells of `rnnlab.cells` run step by step in Python. Slower, but every gate of every
  step is an ordinary tensor you can print, plot or hook (`trace`). Like cuDNN, it computes the
  input's share W_ih x + b for all T steps in one matmul and leaves only W_hh h_{t-1} to the loop.
- "native": rnnlab's C++ recurrence (engines/native.cpp): the input's share of all steps and the weight
  gradients of all steps as one GEMM each, a fused pass over the gates per step. Faster than torch's kernels
  for the GRU and the tanh/relu RNN on CPU (benchmarks/cells.py); built by `make install`.
- "auto" (the default): "native" for the modes where it is the faster, "fused" for the rest.

Every engine takes and returns what torch.nn does:

    x       (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I)
    state   h_0 (L*D, B, H), or (h_0, c_0) for "lstm"; zeros when None
    output  (T, B, D*H) (or (B, T, D*H)): the last layer's h_t, both directions concatenated
    state   h_n (L*D, B, H) (or (h_n, c_n)), rows ordered layer-major then direction:
            row 2*l is layer l forward, row 2*l + 1 layer l backward

where L = num_layers and D = 2 if bidirectional else 1.

Variable-length batches: `lengths` (B,) gives each sequence's true length. Outputs past a
sequence's end are zero, and its final state is the one at its true last step, in both
directions (the backward direction starts at each sequence's own last step, from h_0).
"fused" packs the batch (pack_padded_sequence) as torch users do; "glass" masks the steps.

Under torch.autocast the fused engine returns whatever torch's kernel returns (bfloat16 for lstm
and rnn; torch runs GRU in float32 under CPU autocast). The glass engine does its matmuls in the
autocast dtype and keeps the whole recurrence in that dtype (the initial state is cast once),
so every step is one dtype and no step pays for casts.

This file holds what every engine shares: the parameters, the input checks, torch.nn interop, and
`RecurrentConfig` + `build_recurrent`, the one way a model builds its recurrent layers from a config.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import engines as _engines
from .cells import CELL_NAMES, FAMILIES, CellFamily
from .cells.rnn import check_size, reset_uniform

State = Tensor | tuple[Tensor, Tensor]


class Recurrent(nn.Module):
    """Multi-layer RNN/LSTM/GRU over torch.nn's parameters, run by torch's kernels or by our cells.

    Arguments are torch.nn.RNN/LSTM/GRU's, plus `mode` ("rnn_tanh", "rnn_relu", "lstm", "gru") and
    `engine` (a name in rnnlab.engines.ENGINES: "auto", the default, "fused", "glass", "native"; an ordinary
    attribute, switchable at any time).
    What differs between the modes is data in `rnnlab.cells.FAMILIES` (`self.family`): gates, state,
    step, kernel, torch.nn class; the layer itself never asks which cell it runs.
    Dropout (training only) applies to the outputs of every layer but the last, as in torch.nn; so
    unlike torch.nn (which warns) a dropout > 0 needs num_layers >= 2, and it must be < 1.
    Inputs are checked before either engine runs (shapes, dtype, device, state, lengths): ValueError
    or TypeError, never a kernel reading past its weights.
    See the module docstring for shapes.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, batch_first: bool = False, dropout: float = 0.0,
                 engine: str = "auto", bias: bool = True, device=None, dtype=None):
        super().__init__()
        if mode not in CELL_NAMES:
            raise ValueError(f"mode must be one of {', '.join(CELL_NAMES)}; got {mode!r}")
        input_size, hidden_size = check_size("input_size", input_size), check_size("hidden_size", hidden_size)
        num_layers = check_size("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
            raise TypeError(f"dropout must be a float, got {type(dropout).__name__} {dropout!r}")
        if not 0.0 <= dropout < 1.0:  # also refuses NaN; p = 1 would feed the upper layers only zeros
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        if dropout > 0 and num_layers == 1:
            # torch.nn only warns here; a setting that does nothing is a mistake worth a clear stop
            raise ValueError(f"dropout acts between layers, so it needs num_layers >= 2; got dropout={dropout} "
                             f"with num_layers=1 (apply nn.Dropout to the output instead)")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bidirectional, self.batch_first, self.dropout, self.bias = bidirectional, batch_first, float(dropout), bias
        self.engine = engine
        gates = self.family.gate_count * hidden_size  # G*H rows: the gates' weights stacked (family.gates)
        factory = {"device": device, "dtype": dtype}
        names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = _suffix(layer, direction)
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for kind, shape in shapes.items():
                    setattr(self, kind + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(kind + suffix)
        # torch.nn's order (per layer and direction: w_ih, w_hh, b_ih, b_hh), which the kernels expect.
        self._weight_names = tuple(names)
        self._flat_weights = None  # cached list of the parameters above, rebuilt when one is replaced
        self.reset_parameters()

    # ---- parameters ------------------------------------------------------------------------------

    @property
    def family(self) -> CellFamily:
        """The table entry of this layer's cell (rnnlab.cells.FAMILIES[mode])."""
        return FAMILIES[self.mode]

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def engine(self) -> str:
        return self._runner.name

    @engine.setter
    def engine(self, value: str) -> None:
        self._runner = _engines.get_engine(value)  # the table's entry (ValueError naming the registered engines)

    def reset_parameters(self) -> None:
        """torch.nn's init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
        reset_uniform(self, self.hidden_size)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in self.__dict__.get("_weight_names", ()):
            self.__dict__["_flat_weights"] = None

    def _apply(self, fn, recurse=True):
        # .to()/.double()/... may replace parameters; drop the cached list, as torch.nn does.
        result = super()._apply(fn, recurse)
        self.__dict__["_flat_weights"] = None
        return result

    def flat_weights(self) -> list[Tensor]:
        """The parameters in the order torch's kernels take them (cached: no per-call Python work)."""
        weights = self.__dict__["_flat_weights"]
        if weights is None:
            weights = self.__dict__["_flat_weights"] = [getattr(self, n) for n in self._weight_names]
        return weights

    def direction_weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction."""
        per = 4 if self.bias else 2
        start = (layer * self.num_directions + direction) * per
        w = self.flat_weights()[start:start + per]
        return (w[0], w[1], w[2], w[3]) if self.bias else (w[0], w[1], None, None)

    # ---- torch.nn interop ------------------------------------------------------------------------

    @classmethod
    def from_torch(cls, module: nn.RNNBase, engine: str = "fused") -> "Recurrent":
        """Wrap an nn.RNN / nn.LSTM / nn.GRU: the new layer shares (not copies) its parameters."""
        family = next((f for f in FAMILIES.values() if f.matches(module)), None)
        if family is None:
            classes = list(dict.fromkeys(f"nn.{f.torch_class.__name__}" for f in FAMILIES.values()))  # unique
            raise TypeError(f"expected {', '.join(classes[:-1])} or {classes[-1]}; got {type(module).__name__}")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"{type(module).__name__} with proj_size={module.proj_size}: "
                             "projections are not supported")
        # torch.nn keeps (and warns about) dropout on a one-layer module, where it does nothing; Recurrent
        # refuses that setting, so the wrapper takes the equivalent 0
        dropout = module.dropout if module.num_layers > 1 else 0.0
        layer = cls(family.name, module.input_size, module.hidden_size, module.num_layers, module.bidirectional,
                    module.batch_first, dropout, engine, module.bias, device="meta")
        for name in layer._weight_names:
            setattr(layer, name, getattr(module, name))
        return layer.train(module.training)

    def to_torch(self) -> nn.RNNBase:
        """An nn.RNN / nn.LSTM / nn.GRU sharing (not copying) this layer's parameters."""
        family = self.family
        module = family.torch_class(self.input_size, self.hidden_size, self.num_layers, bias=self.bias,
                                    batch_first=self.batch_first, dropout=self.dropout,
                                    bidirectional=self.bidirectional, device="meta", **family.torch_kwargs)
        for name in self._weight_names:
            setattr(module, name, getattr(self, name))
        return module.train(self.training)

    # ---- forward ---------------------------------------------------------------------------------

    def forward(self, x: Tensor, state: State | None = None, lengths=None) -> tuple[Tensor, State]:
        """(output, state) exactly as torch.nn's forward returns them; see the module docstring."""
        state, lengths = self._check_call(x, state, lengths, unbatched_ok=True)
        if x.dim() == 2:  # unbatched (T, I), as torch.nn allows
            batch_dim = 0 if self.batch_first else 1
            state = None if state is None else _map_state(state, lambda s: s.unsqueeze(1))
            output, state = self._run(x.unsqueeze(batch_dim), state, None)
            return output.squeeze(batch_dim), _map_state(state, lambda s: s.squeeze(1))
        return self._run(x, state, lengths)

    def _run(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        return self._runner.run(self, x, state, lengths)  # the engine's entry in rnnlab.engines

    def _check_call(self, x: Tensor, state, lengths, unbatched_ok: bool) -> tuple[State | None, Tensor | None]:
        """Check what the engines assume of (x, state, lengths) before either runs; returns the state
        (a pair (h, c) as a tuple) and lengths as an int64 CPU tensor (or None).

        Not a nicety: torch's fused kernels (the _VF ops) trust the sizes they are given and do not
        check them against the weights, so an input with the wrong feature size reads past the weight
        matrices (garbage, different on every call) instead of failing. torch.nn.LSTM & co. check in
        Python before the call; these are the same checks, for both engines alike.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
        if x.dim() != 3 and not (unbatched_ok and x.dim() == 2):
            accepted = f"3-D {layout} or unbatched 2-D (T, I)" if unbatched_ok else f"3-D {layout}"
            raise ValueError(f"expected x of {accepted}, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x.size(-1) must equal input_size: expected {self.input_size}, got {x.shape[-1]} "
                             f"(x of shape {tuple(x.shape)})")
        weight = self.flat_weights()[0]
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
        # under autocast torch casts inputs and weights itself; otherwise the kernels need one dtype
        autocast = torch._C._is_any_autocast_enabled()
        if x.dtype != weight.dtype and not autocast:
            raise ValueError(f"x has dtype {x.dtype} but the layer's parameters {weight.dtype}: convert x "
                             f"(x.to({weight.dtype})) or the layer (layer.to({x.dtype}))")
        if x.device != weight.device:
            raise ValueError(f"x is on {x.device} but the layer's parameters on {weight.device}: "
                             f"move one (x.to({str(weight.device)!r}) or layer.to({str(x.device)!r}))")
        unbatched = x.dim() == 2
        time_axis = 0 if unbatched or not self.batch_first else 1
        steps, batch = x.shape[time_axis], 1 if unbatched else x.shape[1 - time_axis]
        if steps == 0:
            raise ValueError(f"x has no time steps (shape {tuple(x.shape)}, layout {layout})")
        if state is not None:
            state = self._check_state(state, x, batch, unbatched, autocast)
        if lengths is not None:
            if unbatched:
                raise ValueError("lengths needs a batched input (3-D x)")
            lengths = _check_lengths(lengths, batch, steps)
        return state, lengths

    def _check_state(self, state, x: Tensor, batch: int, unbatched: bool, autocast: bool) -> State:
        """The given initial state: its arity (the family's: h, or a pair (h, c)), shapes, dtype and device."""
        family = self.family
        if family.state_arity == 1:
            given = isinstance(state, Tensor)
        else:
            given = isinstance(state, (tuple, list)) and len(state) == family.state_arity
        if not given:
            raise ValueError(f"the state of a {self.mode!r} layer is {family.state_form} ({_other_forms(family)}), "
                             f"got {_describe(state)}")
        parts = dict(zip([n + "_0" for n in family.state_names], family.state_parts(state)))  # {"h_0": ..}
        rows = self.num_layers * self.num_directions
        shape = (rows, self.hidden_size) if unbatched else (rows, batch, self.hidden_size)
        for name, s in parts.items():
            if not isinstance(s, Tensor):
                raise TypeError(f"state {name} must be a tensor, got {type(s).__name__}")
            if tuple(s.shape) != shape:
                what = "(num_layers * num_directions, H)" if unbatched else "(num_layers * num_directions, B, H)"
                raise ValueError(f"expected state {name} of shape {shape} {what}, got {tuple(s.shape)}")
            if not s.is_floating_point() or (s.dtype != x.dtype and not autocast):
                raise ValueError(f"state {name} has dtype {s.dtype}, x {x.dtype}: they must match")
            if s.device != x.device:
                raise ValueError(f"state {name} is on {s.device}, x on {x.device}: they must match")
        return family.state_from_parts(tuple(parts.values()))

    def initial_state(self, x: Tensor, state: State | None, batch: int) -> State:
        """The given state (checked by _check_call), or zeros (L*D, B, H): where every engine starts."""
        if state is not None:
            return state
        h0 = torch.zeros((self.num_layers * self.num_directions, batch, self.hidden_size),
                         dtype=x.dtype, device=x.device)
        return self.family.state_from_parts((h0,) * self.family.state_arity)  # h0, or (h0, h0)

    def trace(self, x: Tensor, lengths=None, state: State | None = None) -> dict[str, Tensor]:
        """Run the tracing engine ("glass", whatever `engine` says) and return every named value of every step.

        Returns a flat dict of tensors (so it saves as safetensors as is), keyed
        "l{layer}.{name}" for the forward direction and "l{layer}_reverse.{name}" for the backward
        one (the suffixes of the parameter names), plus "output" and "h_n" (and "c_n"). Each
        per-step tensor has the output's layout, (T, B, H) or (B, T, H) with batch_first, and
        position t holds the step that read x_t (also in the backward direction, whose previous
        state is thus at t + 1). Names:

            lstm      in_gate i_t, forget_gate f_t, cell_candidate g_t, out_gate o_t, c (c_t), h (h_t)
            gru       reset_gate r_t, update_gate z_t, candidate n_t, h (h_t)   (torch.nn's form)
            rnn_*     h (h_t)

        With lengths, every value at positions past a sequence's end is zero.
        Unbatched x is not accepted here; give it a batch of one.
        """
        state, lengths = self._check_call(x, state, lengths, unbatched_ok=False)
        output, final, trace = _engines.tracing_engine().trace(self, x, state, lengths)
        trace["output"] = output
        for name, part in zip(self.family.state_names, self.family.state_parts(final)):
            trace[name + "_n"] = part  # "h_n" (and "c_n")
        return trace

    def extra_repr(self) -> str:
        return (f"{self.mode!r}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, batch_first={self.batch_first}, dropout={self.dropout}, "
                f"bias={self.bias}, engine={self.engine!r}")


@dataclass(frozen=True)
class RecurrentConfig:
    """A model's recurrent stack in the words of every task's `[model]` table, built by `build_recurrent`.

    `hidden_size` is the number of units of ONE direction of one layer, in every task (torch.nn's meaning): a
    bidirectional stack outputs 2 * hidden_size features per step (`output_size`). `dropout` is the task's
    dropout rate; between layers it acts only where there is a layer above (a one-layer stack gets none there,
    the task applies it to what it feeds in and reads out).
    """

    cell: str  # a family name of rnnlab.cells (see rnnlab.cells.CELL_NAMES); no default: a model says which
    hidden_size: int = 128  # units per direction
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    engine: str = "auto"  # a name in rnnlab.engines.ENGINES; "auto": native where faster, else fused

    @classmethod
    def of(cls, model_config, **overrides) -> "RecurrentConfig":
        """The fields a task's ModelConfig shares with this one (same names), then `overrides`."""
        names = {f.name for f in dataclasses.fields(cls)}
        given = {n: getattr(model_config, n) for n in names if hasattr(model_config, n)}
        return cls(**{**given, **overrides})

    @property
    def output_size(self) -> int:
        """Features per step out of the top layer: hidden_size per direction."""
        return self.hidden_size * (2 if self.bidirectional else 1)


def build_recurrent(cfg: RecurrentConfig, input_size: int, *, batch_first: bool = True) -> Recurrent:
    """The recurrent stack `cfg` describes over inputs of `input_size` features (batch-first by default)."""
    return Recurrent(cfg.cell, input_size, cfg.hidden_size, num_layers=cfg.num_layers,
                     bidirectional=cfg.bidirectional, batch_first=batch_first,
                     dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, engine=cfg.engine)


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def _map_state(state: State, fn) -> State:
    """Apply fn to h (and c): states are a tensor, or a (h, c) tuple for the LSTM."""
    return (fn(state[0]), fn(state[1])) if isinstance(state, tuple) else fn(state)


def _other_forms(family: CellFamily) -> str:
    """The states the other families take, for the error message: "a pair (h_0, c_0) is for lstm"."""
    whose = {}
    for name, other in FAMILIES.items():
        if other.state_form != family.state_form:
            whose.setdefault(other.state_form, []).append(name)
    return "; ".join(f"{form} is for {', '.join(names)}" for form, names in whose.items())


def _describe(value) -> str:
    """What a wrong state was, for the error message: "a tensor of shape (1, 3, 6)", "a tuple of 3"."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def _is_int(value) -> bool:
    """An int (Python, NumPy or a 0-d integer tensor), and not a bool."""
    if isinstance(value, Tensor):
        return (value.dim() == 0 and not value.is_floating_point() and not value.is_complex()
                and value.dtype != torch.bool)
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_lengths(lengths, batch: int, steps: int) -> Tensor:
    """lengths as an int64 CPU tensor (B,), each in 1..T.

    Integers only: a float length (4.7) is a mistake to report, not a value to truncate."""
    if hasattr(lengths, "__array__") and not isinstance(lengths, Tensor):  # a NumPy array
        lengths = torch.as_tensor(lengths)
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got a tensor of {lengths.dtype}")
        if lengths.dim() != 1:
            raise ValueError(f"expected lengths of shape ({batch},), got {tuple(lengths.shape)}")
    elif isinstance(lengths, (list, tuple)):
        bad = [v for v in lengths if not _is_int(v)]
        if bad:
            raise TypeError(f"lengths must be ints, got {type(bad[0]).__name__} {bad[0]!r}")
    else:
        raise TypeError(f"lengths must be a 1-D integer tensor or a sequence of ints (one per sequence), "
                        f"got {type(lengths).__name__} {lengths!r}")
    lengths = torch.as_tensor(lengths, dtype=torch.int64, device="cpu")
    if lengths.shape != (batch,):
        raise ValueError(f"expected lengths of shape ({batch},), got {tuple(lengths.shape)}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(f"lengths must lie in 1..{steps} (the input's time steps); got {lengths.tolist()}")
    return lengths
