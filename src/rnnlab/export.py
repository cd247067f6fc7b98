"""`rnnlab export BUNDLE OUT`: a bundle's network as ONNX, checked in onnxruntime before it is written.

    OUT/model.onnx     the task's ExportGraph (Task.export_graph): its front end inside, batch and time axes free;
                       an encoder-decoder gives two, encoder.onnx and decoder_step.onnx, that a search loop drives
    OUT/export.json    inputs and outputs (names, dtypes, shapes, which axes vary), opset, exporter, the files
                       below, and how far onnxruntime's outputs were from PyTorch's on each check
    OUT/<name>.json    the bundle's task state (vocabularies, tokenizers), copied as they are
    OUT/README.md      the export's model card: its graphs, and how to run them with rnnlab or onnxruntime alone

export.json also records the bundle's run config and metrics: `rnnlab predict OUT` and `rnnlab serve OUT`
(--runtime onnx, rnnlab.runtime) rebuild the task from it and run the graphs in onnxruntime, no weights read.

Verified, not assumed: the export is run in onnxruntime on batches of real inputs (Task.export_example) at
several batch sizes and lengths, ragged, none of them the traced example's size, and compared with the PyTorch
model; an output further than `RELATIVE_TOLERANCE` times its scale from PyTorch's (or of another shape) stops
the export with one line, and nothing is written. The checks catch the exporters' known traps: a time axis
fixed to the example's length, a GRU written with linear_before_reset=0 (torch computes r * (W_hn h + b_hn),
the ONNX default r * (W_hn h) + b_hn), and ragged batches.

The exporter is torch's TorchScript one (`torch.onnx.export(dynamo=False)`): it turns the fused engine's
pack_padded_sequence into the ONNX RNN / LSTM / GRU op's `sequence_lens` (each sequence read to its own end,
the backward direction started there), writes GRUs with linear_before_reset=1, and keeps the time axis free;
every Recurrent is switched to the fused engine first, as the glass engine's Python loop would be unrolled to
the example's length. The dynamo exporter (which needs onnxscript) is not used: it has done all three wrong.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.bundle import RESERVED, load
from rnnlab.checkpoint import atomic_write_bytes, fsync_dir
from rnnlab.config import to_dict
from rnnlab.errors import UserError
from rnnlab.layers import Recurrent
from rnnlab.tasks.base import EXPORT_DYNAMIC_AXES, ExportGraph, ExportTensor

FORMAT = "rnnlab-export"
FORMAT_VERSION = 1
FORMATS = ("onnx",)
OPSET = 17
# fp32 through two runtimes whose kernels sum in different orders: differences of a few 1e-7 of the output's
# scale per step, growing with the length; 1e-4 leaves room for long inputs and still catches every real
# mistake (a wrong GRU variant is off by 1e-2..1e-1, a wrong step count by far more)
RELATIVE_TOLERANCE = 1e-4
TRACE_SIZE = (2, 7)  # (batch, length) of the example traced; every check differs from it in both
CHECK_SIZES = ((1, 4), (3, 11), (4, 7), (5, 3))  # (batch, length): sizes 1 and 3+, lengths below and above 7
_NUMPY = {"int64": np.int64, "float32": np.float32, "float64": np.float64, "bool": np.bool_}


@dataclass
class Check:
    """One comparison of onnxruntime with PyTorch: a batch of `batch` inputs, the longest `length` steps."""

    batch: int
    length: int
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # per output
    scale: dict[str, float] = field(default_factory=dict)  # per output: max |PyTorch's value|, at least 1


class ExportMismatch(UserError):
    """onnxruntime's outputs are not PyTorch's: the export is refused."""


def prepare(graph: ExportGraph) -> ExportGraph:
    """The graph ready to trace: eval mode, every Recurrent on the fused engine (see the module docstring)."""
    graph.module.eval()
    for m in graph.module.modules():
        if isinstance(m, Recurrent):
            m.engine = "fused"
    return graph


def to_onnx(graph: ExportGraph, example: dict[str, torch.Tensor], opset: int = OPSET) -> bytes:
    """The graph traced on `example` and written as ONNX, with the batch and time axes left free."""
    args = tuple(example[t.name] for t in graph.inputs)
    dynamic = {t.name: {i: a for i, a in enumerate(t.axes) if a in EXPORT_DYNAMIC_AXES}
               for t in (*graph.inputs, *graph.outputs)}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings(), _quiet_stderr():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes: the checks say what matters
        torch.onnx.export(graph.module, args, buffer, dynamo=False, opset_version=opset,
                          input_names=[t.name for t in graph.inputs], output_names=[t.name for t in graph.outputs],
                          dynamic_axes={k: v for k, v in dynamic.items() if v}, do_constant_folding=True)
    return _name_outputs(buffer.getvalue(), [t.name for t in graph.outputs])


def _name_outputs(onnx_bytes: bytes, names: list[str]) -> bytes:
    """The graph with its outputs named as declared. The exporter drops the name of an output that is a constant
    of the weights (a CRF's transition scores, folded into an initializer): such an output gets it back through
    an Identity node."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    if [o.name for o in model.graph.output] == names:
        return onnx_bytes
    for output, name in zip(model.graph.output, names):
        if output.name != name:
            model.graph.node.append(onnx.helper.make_node("Identity", [output.name], [name]))
            output.name = name
    return model.SerializeToString()


def verify(onnx_bytes: bytes, graph: ExportGraph, examples: dict[tuple[int, int], dict[str, torch.Tensor]],
           tolerance: float = RELATIVE_TOLERANCE) -> list[Check]:
    """Run the export in onnxruntime on each example ({(batch size, length): inputs by name}, as
    Task.export_example makes them) and compare with the PyTorch module. Returns one Check per example; raises
    ExportMismatch (one line) at the first output of another shape or further than `tolerance` x its scale
    (max |PyTorch's value|, at least 1) from PyTorch's."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: a failed run is reported below, in one line
    session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    checks = []
    for (batch, length), example in examples.items():
        check = Check(batch, length)
        with torch.no_grad():
            expected = graph.module(*(example[t.name] for t in graph.inputs))
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        feed = {t.name: example[t.name].numpy().astype(_NUMPY[t.dtype]) for t in graph.inputs}
        where = f"at batch {batch}, length {length}"
        try:
            got = session.run([t.name for t in graph.outputs], feed)
        except Exception as e:  # onnxruntime's own error types: e.g. a time axis fixed to the traced length
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ExportMismatch(f"onnxruntime could not run the export {where} ({first[:200]}): "
                                 "the export is wrong") from None
        for spec, want, have in zip(graph.outputs, expected, got):
            want = want.detach().float().numpy()
            if have.dtype != _NUMPY[spec.dtype]:
                raise ExportMismatch(f"onnxruntime's {spec.name} is {have.dtype}, declared {spec.dtype}: "
                                     "the export is wrong")
            if want.shape != have.shape:
                raise ExportMismatch(f"onnxruntime's {spec.name} has shape {have.shape}, PyTorch's {want.shape} "
                                     f"{where}: the export is wrong")
            diff = float(np.abs(have.astype(np.float64) - want).max()) if want.size else 0.0
            scale = max(1.0, float(np.abs(want).max()) if want.size else 0.0)
            if not diff <= tolerance * scale:  # NaN fails too
                raise ExportMismatch(f"onnxruntime's {spec.name} differs from PyTorch's by {diff:.3g} {where} "
                                     f"(tolerance {tolerance:g} x scale {scale:.3g}): the export is wrong")
            check.max_abs_diff[spec.name], check.scale[spec.name] = diff, scale
        checks.append(check)
    return checks


def export_bundle(bundle: str | Path, out: str | Path, *, format: str = "onnx", force: bool = False) -> dict[str, Any]:
    """Export the bundle at `bundle` into the directory `out` (see the module docstring). Returns export.json's
    content. `out` must not exist unless `force`; on any error nothing is left there (an old `out` stays)."""
    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r} (formats: {', '.join(FORMATS)})")
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not force:
            raise UserError(f"{out} exists; give --force to replace it")
        if not out.is_dir() or out.is_symlink():
            raise UserError(f"{out} exists and is not a directory; not replaced")
        if (out / "config.json").is_file():  # `export B B --force` would delete the bundle it reads
            raise UserError(f"{out} is a bundle, not an export; not replaced")
    predictor = load(bundle)
    task, model = predictor.task, predictor.model
    graphs = task.export_graph(model)
    graphs = {k: prepare(g) for k, g in (graphs.items() if isinstance(graphs, dict) else [("model", graphs)])}
    traced = task.export_example(model, *TRACE_SIZE, seed=0)
    examples = {(b, t): task.export_example(model, b, t, seed=i + 1) for i, (b, t) in enumerate(CHECK_SIZES)}
    written, described, checks = {}, {}, []
    for name, graph in graphs.items():
        try:
            onnx_bytes = to_onnx(graph, traced)
        except Exception as e:  # an op torch.onnx has no ONNX form for, a trace that fails: one line, nothing written
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"torch.onnx could not export the {task.name} model ({name}): {first[:300]}") from None
        checks += [(name, c) for c in verify(onnx_bytes, graph, examples)]
        fixed = _fixed_sizes(graph, traced)
        written[f"{name}.onnx"] = onnx_bytes
        described[name] = {"file": f"{name}.onnx", "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
                           "inputs": [_describe(t, fixed) for t in graph.inputs],
                           "outputs": [_describe(t, fixed) for t in graph.outputs]}

    import onnxruntime

    state_files = sorted(p.name for p in Path(bundle).iterdir()
                         if p.suffix == ".json" and p.stem not in RESERVED and p.is_file())
    worst = max(c.max_abs_diff[n] / c.scale[n] for _, c in checks for n in c.max_abs_diff)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": task.name,
        "opset": OPSET, "exporter": f"torch.onnx.export (TorchScript, dynamo=False), torch {torch.__version__}",
        "graphs": described,  # one ("model"), or those a loop drives ("encoder", "decoder_step")
        "files": state_files,  # the bundle's vocabularies / tokenizers, copied beside the graphs
        "verified": {
            "runtime": f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)",
            "tolerance": f"max |onnxruntime - torch| <= {RELATIVE_TOLERANCE:g} x max(1, max |torch|), per output",
            "relative_tolerance": RELATIVE_TOLERANCE, "max_relative_diff": worst,
            "checks": [{"graph": name, "batch": c.batch, "length": c.length, "max_abs_diff": c.max_abs_diff}
                       for name, c in checks],
        },
        "bundle": str(bundle),
        # what `rnnlab predict OUT` / `rnnlab serve OUT` (rnnlab.runtime.load_export) rebuild the task from
        "config": {k: v for k, v in to_dict(predictor.config).items() if k != "run_dir"},
        "metrics": predictor.metrics,
    }
    files = {**written, "export.json": (json.dumps(meta, indent=2) + "\n").encode(),
             "README.md": export_card(meta).encode()}
    for name in state_files:
        files[name] = (Path(bundle) / name).read_bytes()
    _write_dir(out, files)
    return meta


# the export's model card's plain-onnxruntime block: run as written, in the export directory, by the export tests
PLAIN_ONNXRUNTIME = """\
import json

import onnxruntime

meta = json.load(open("export.json"))
sessions = {name: onnxruntime.InferenceSession(graph["file"]) for name, graph in meta["graphs"].items()}
for name, session in sessions.items():
    print(name, [(i.name, i.type, i.shape) for i in session.get_inputs()],
          "->", [(o.name, o.type, o.shape) for o in session.get_outputs()])
"""


def export_card(meta: dict[str, Any]) -> str:
    """The export's README.md: what the graphs take and give, how to run them with rnnlab and without it."""
    task = meta["task"]
    lines = [f"# rnnlab export: {task}", "",
             f"ONNX opset {meta['opset']}, written by {meta['exporter']}; checked in {meta['verified']['runtime']} "
             f"before it was written: {meta['verified']['tolerance']} (worst seen: "
             f"{meta['verified']['max_relative_diff']:.2g}).", "", "## Graphs", ""]
    for name, graph in meta["graphs"].items():
        lines += [f"`{graph['file']}` ({name})", "", "| | name | dtype | shape | what |", "|---|---|---|---|---|"]
        for side in ("inputs", "outputs"):
            for t in graph[side]:
                lines.append(f"| {side[:-1]} | `{t['name']}` | {t['dtype']} | {t['shape']} | {t['help']} |")
        lines.append("")
    lines += ["Named axes (batch, time, ...) vary from call to call; numbers are fixed. The vocabularies and "
              "tokenizers: " + (", ".join(f"`{f}`" for f in meta["files"]) or "none") + ".", "",
              "## With rnnlab", "", "```",
              "rnnlab predict THIS_DIRECTORY --runtime onnx INPUT...   # the bundle's answers, from these graphs",
              "rnnlab serve THIS_DIRECTORY --runtime onnx              # the studio's API, batched",
              "```", "", "## With onnxruntime alone", "",
              "Run in this directory: loads every graph and prints what it takes and gives "
              "(docs/export.md has a complete example that encodes text and decodes the answer).", "",
              "```python", PLAIN_ONNXRUNTIME.rstrip(), "```", ""]
    return "\n".join(lines)


def _fixed_sizes(graph: ExportGraph, example: dict[str, torch.Tensor]) -> dict[str, int]:
    """The size of every axis that does not vary ("intents": 7), read off the example and its outputs."""
    with torch.no_grad():
        outputs = graph.module(*(example[t.name] for t in graph.inputs))
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    sizes = {}
    for spec, value in [*((t, example[t.name]) for t in graph.inputs), *zip(graph.outputs, outputs)]:
        if value.dim() != len(spec.axes):
            raise ValueError(f"{spec.name}: {value.dim()} axes, declared {spec.axes}")
        for axis, size in zip(spec.axes, value.shape):
            if axis not in EXPORT_DYNAMIC_AXES:
                sizes[axis] = int(size)
    return sizes


def _describe(spec: ExportTensor, fixed: dict[str, int]) -> dict[str, Any]:
    return {"name": spec.name, "dtype": spec.dtype,
            "shape": [a if a in EXPORT_DYNAMIC_AXES else fixed[a] for a in spec.axes],
            "axes": list(spec.axes),
            "dynamic_axes": [i for i, a in enumerate(spec.axes) if a in EXPORT_DYNAMIC_AXES],
            "help": spec.help}


def _write_dir(out: Path, files: dict[str, bytes]) -> None:
    """Write `files` into a temporary sibling, then swap it in for `out` (whole or not at all)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    old = out.with_name(f".{out.name}.old")
    try:
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        fsync_dir(out.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir() and not out.exists():
            old.rename(out)
        raise


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ side's warnings while tracing (shape inference of prim::PackPadded, which the RNN op's
    sequence_lens replaces): they are written to file descriptor 2, below Python's sys.stderr."""
    try:
        fd = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
