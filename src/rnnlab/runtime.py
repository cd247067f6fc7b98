"""Runtimes: a task's graphs run by PyTorch or by onnxruntime, behind one call.

A task's network, as `rnnlab export` writes it, is one or more graphs (Task.export_graph): `graph(*inputs)` ->
tuple of outputs, in the order and dtypes its ExportTensors declare. A task that can predict from graphs alone
(Task.predict_graphs) does its decoding (argmax, search, thresholds) around such calls, so the same code serves
both runtimes:

    torch_graphs(task, model)  {name: TorchGraph}: the PyTorch modules of the bundle's model
    load_export(OUT)           a Predictor whose `model` is an OnnxModel: {name: OnnxGraph}, one onnxruntime
                               session per graph of the export directory OUT; no PyTorch weights are read

`rnnlab predict OUT` and `rnnlab serve OUT` take an export directory where they take a bundle (`--runtime onnx`
says so explicitly): the export directory holds the graphs, the task's state files and export.json, which
records the run config the task is rebuilt from. Nothing in an export can run code when loaded: the graphs are
ONNX protobufs run by onnxruntime's own kernels, the rest is JSON.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.errors import BundleError, UserError

RUNTIMES = ("torch", "onnx")
_NUMPY = {"int64": np.int64, "float32": np.float32, "float64": np.float64, "bool": np.bool_}

Graph = Callable[..., tuple[torch.Tensor, ...]]


class TorchGraph:
    """One ExportGraph's module, called as an export graph is: tensors in (moved to the module's device), a tuple
    of CPU tensors out, in eval mode and without gradients (the mode the module was in is restored after)."""

    def __init__(self, graph: Any):
        self.graph = graph

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from rnnlab.explain import eval_mode

        module = self.graph.module
        device = next(module.parameters()).device
        with eval_mode(module), torch.no_grad():
            out = module(*(x.to(device) for x in inputs))
        out = out if isinstance(out, (tuple, list)) else (out,)
        # half-precision outputs (a bf16 model) widened as an export's float32 would be; float64 (a forecast in
        # data units) and float32 kept as they are
        return tuple((o.float() if o.dtype in (torch.bfloat16, torch.float16) else o).detach().cpu() for o in out)


class OnnxGraph:
    """One graph of an export, in an onnxruntime session: called with torch tensors (cast to the declared
    dtypes), answers a tuple of torch tensors (sharing onnxruntime's arrays, no copy)."""

    def __init__(self, onnx_bytes: bytes, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
                 threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        # the same threads as torch's model calls (rnnlab serve --threads sets both); onnxruntime's default is
        # every core, which fights the server's own thread on a small machine
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.inputs):
            raise TypeError(f"the graph takes {len(self.inputs)} inputs, got {len(inputs)}")
        feed = {spec["name"]: np.ascontiguousarray(x.detach().cpu().numpy().astype(_NUMPY[spec["dtype"]], copy=False))
                for spec, x in zip(self.inputs, inputs)}
        got = self.session.run([o["name"] for o in self.outputs], feed)
        return tuple(torch.from_numpy(np.asarray(a)) for a in got)


class OnnxModel:
    """What a Predictor holds as `model` under the onnx runtime: the export's graphs by name. It has no
    parameters: a task's PyTorch-only path (gradients, the glass engine's gates) cannot run on it."""

    def __init__(self, graphs: dict[str, OnnxGraph]):
        self.graphs = graphs

    def eval(self) -> OnnxModel:  # the server puts its model in eval mode; an export is always in it
        return self

    def __repr__(self) -> str:
        return f"OnnxModel({', '.join(self.graphs)})"


def torch_graphs(task: Any, model: torch.nn.Module) -> dict[str, Graph]:
    """The bundle's model as the graphs `rnnlab export` would write: {name: TorchGraph} (one, "model", unless
    the task's model is driven by a loop)."""
    graphs = task.export_graph(model)
    graphs = graphs if isinstance(graphs, dict) else {"model": graphs}
    return {name: TorchGraph(g) for name, g in graphs.items()}


def is_export(path: str | Path) -> bool:
    """True for a directory `rnnlab export` wrote (export.json, no bundle config.json)."""
    path = Path(path)
    return (path / "export.json").is_file() and not (path / "config.json").exists()


def load_export(path: str | Path, threads: int | None = None) -> Any:
    """A Predictor over the export directory `path`, its graphs in onnxruntime (see the module docstring).
    Raises BundleError naming the file that is missing, altered or not an export's."""
    from rnnlab.bundle import Predictor, _read_file, _read_json, saved_task
    from rnnlab.export import FORMAT, FORMAT_VERSION

    path = Path(path)
    meta_path = path / "export.json"
    if not path.is_dir():
        raise BundleError(path, "not an export directory (not found)" if not path.exists() else "not a directory")
    if not meta_path.is_file():
        raise BundleError(meta_path, "missing: an export directory (rnnlab export BUNDLE OUT) has an export.json")
    meta = _read_json(meta_path, _read_file(path, meta_path))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(meta_path, f"not an rnnlab export (format should be {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(meta_path, f"export format version {meta.get('format_version')!r} is not supported: "
                                     f"this rnnlab reads version {FORMAT_VERSION}")
    if not isinstance(meta.get("config"), dict):
        raise BundleError(meta_path, "no run config: the export was written by an older rnnlab; export the "
                                     "bundle again to run it with --runtime onnx")
    state = {}
    for name in meta.get("files") or []:
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") \
                or not name.endswith(".json"):
            raise BundleError(meta_path, f"invalid file name {name!r} in files")
        state[name[:-5]] = _read_json(path / name, _read_file(path, path / name))
    cfg, task = saved_task(meta["config"], meta_path, state, path)
    graphs = {}
    for name, g in (meta.get("graphs") or {}).items():
        file = path / str(g.get("file", ""))
        data = _read_file(path, file)
        if hashlib.sha256(data).hexdigest() != g.get("sha256"):
            raise BundleError(file, "checksum mismatch: the file is truncated or was modified after export")
        try:
            graphs[name] = OnnxGraph(data, g["inputs"], g["outputs"], threads)
        except Exception as e:  # onnxruntime's own error types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise BundleError(file, f"onnxruntime cannot load it ({first[:200]})") from None
    if not graphs:
        raise BundleError(meta_path, "no graphs listed")
    card = (path / "README.md").read_text("utf-8", "replace") if (path / "README.md").is_file() else ""
    return Predictor(task=task, model=OnnxModel(graphs), config=cfg, metrics=meta.get("metrics") or {},
                     card=card, path=path, runtime="onnx")


def load_predictor(path: str | Path, runtime: str | None = None) -> Any:
    """A bundle (runtime torch) or an export directory (runtime onnx), as the CLI's and the server's `runtime`
    asks; None takes what the directory is. A mismatch is one line saying what to give instead."""
    from rnnlab.bundle import load

    if runtime not in (None, *RUNTIMES):
        raise UserError(f"unknown runtime {runtime!r} (runtimes: {', '.join(RUNTIMES)})")
    export = is_export(path)
    if runtime == "onnx" and not export:
        raise UserError(f"{path}: not an export directory: --runtime onnx runs what `rnnlab export BUNDLE OUT` "
                        "wrote; give OUT")
    if runtime == "torch" and export:
        raise UserError(f"{path}: an export (ONNX graphs, no PyTorch weights): run it with --runtime onnx, or give "
                        "the bundle it was exported from")
    return load_export(path) if export else load(path)

