"""Model bundles: a trained model as a directory of plain files, loaded without unpickling anything.

    BUNDLE/
      config.json        format version, task, data/model/train config, versions, training command,
                         and the sha256 of every other file ("files")
      model.safetensors  the weights (state_dict names, e.g. encoder.weight_ih_l0)
      <name>.json        the task's fitted state, one file per entry of Task.state_to_json()
                         (intent: vocab.words.json, vocab.intents.json)
      metrics.json       final metrics (valid/test) and training facts
      README.md          the model card: task, data, command that trained it, metrics

`load(path)` checks the format version, that every listed file exists and matches its sha256
(so a missing, truncated or edited file is named in a BundleError), rebuilds the task from
config.json and its state files, builds the model and loads the weights strictly. A bundle may come
from someone else: its files must be regular files inside its directory (a symbolic link out of it,
a directory, a FIFO or a device such as /dev/zero is refused before it is read), each is read no
further than its size, and weights that are not finite (NaN, inf) are refused too.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from rnnlab.checkpoint import atomic_write_bytes, current_umask, fsync_dir, interrupts_held
from rnnlab.config import RunConfig, config_from_dict, to_dict
from rnnlab.errors import BundleError, UserError
from rnnlab.tasks import Task

FORMAT = "rnnlab.bundle"
FORMAT_VERSION = 1
RESERVED = {"config", "metrics", "model"}
_STATE_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    from rnnlab.version import __version__

    return {"rnnlab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def model_card(cfg: RunConfig, metrics: dict[str, Any], command: str, task: Task) -> str:
    """The bundle's README.md."""
    doc = (type(task).__doc__ or "").strip().splitlines()[0] if type(task).__doc__ else cfg.task
    lines = [f"# rnnlab model: {cfg.task}", "", doc, "", "## Model", ""]
    lines += [f"- {k}: `{v}`" for k, v in to_dict(cfg)["model"].items()]
    if "parameters" in metrics:
        lines.append(f"- parameters: {metrics['parameters']:,}")
    lines += ["", "## Data", ""] + [f"- {k}: `{v}`" for k, v in to_dict(cfg)["data"].items()]
    lines += ["", "## Training", "", f"Command: `{command or '(not recorded)'}`", ""]
    lines += [f"- {k}: `{v}`" for k, v in to_dict(cfg)["train"].items()]
    lines += ["", "## Metrics", "", "| split | " + " | ".join(["metric", "value"]) + " |", "|---|---|---|"]
    for split in ("valid", "test"):
        for k, v in (metrics.get(split) or {}).items():
            lines.append(f"| {split} | {k} | {v:.4f} |" if isinstance(v, float) else f"| {split} | {k} | {v} |")
    for k in ("best_epoch", "epochs_run", "train_time_s", "world_size", "precision"):
        if k in metrics:
            lines.append(f"\n{k}: {metrics[k]}")
    lines += ["", "## Use", "", "```", "rnnlab predict BUNDLE \"your text\"",
              "python -c \"import rnnlab; print(rnnlab.load('BUNDLE').predict(['your text']))\"", "```", ""]
    return "\n".join(lines)


def save_bundle(path: str | Path, task: Task, model: torch.nn.Module, cfg: RunConfig, metrics: dict[str, Any],
                command: str = "") -> Path:
    """Write a bundle directory at `path` (replacing one already there). Returns the path.

    Files are written into a temporary sibling directory first, then swapped in with interrupts held
    (checkpoint.interrupts_held), so Ctrl-C or SIGTERM at any moment leaves either the old bundle or the new
    one, and a crash (SIGKILL, power) at most puts the old one aside as `.NAME.old` between two renames."""
    path = Path(path)
    files: dict[str, bytes] = {}
    # private contiguous copies: safetensors rejects tensors sharing storage (tied embeddings)
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # a diverged model would load and answer "nan%": refuse to write it at all
        raise UserError(f"{path}: not saved: the model has non-finite weights "
                        f"({bad[0]}{' and others' if len(bad) > 1 else ''})")
    files["model.safetensors"] = st_save(weights, metadata={"format": f"{FORMAT}/{FORMAT_VERSION}"})
    for name, value in task.state_to_json().items():
        if not _STATE_NAME.match(name) or name in RESERVED:
            raise ValueError(f"task state name {name!r} is not allowed in a bundle")
        files[f"{name}.json"] = (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode()
    files["metrics.json"] = (json.dumps(metrics, indent=2) + "\n").encode()
    files["README.md"] = model_card(cfg, metrics, command, task).encode()
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **to_dict(cfg),
              "versions": _versions(), "command": command,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "files": {name: _sha256(data) for name, data in sorted(files.items())}}
    files["config.json"] = (json.dumps(config, indent=2) + "\n").encode()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old = path.with_name(f".{path.name}.old")
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700: give the bundle the user's usual mode
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        with interrupts_held():  # two renames: a Ctrl-C between them would leave no bundle at `path`
            if old.exists():
                shutil.rmtree(old)
            if path.exists():
                path.rename(old)
            tmp.rename(path)
            fsync_dir(path.parent)
            if old.exists():
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir() and not path.exists():  # the new one could not be swapped in: the old one goes back
            old.rename(path)
        raise
    return path


@dataclass
class Predictor:
    """A loaded bundle, ready to predict. `model` is in eval mode on CPU.

    predict(inputs, **options) -> list of JSON-able dicts (the task's predict under its decode options)
    trace(text)     -> JSON-able dict of per-token states/gates/influences (the task's trace)
    recurrent       -> the model's rnnlab.Recurrent layers, by attribute name
    """

    task: Task
    model: torch.nn.Module
    config: RunConfig
    metrics: dict[str, Any]
    card: str
    path: Path
    runtime: str = "torch"  # "onnx": an export directory's graphs in onnxruntime (rnnlab.runtime.load_export)

    def predict(self, inputs: list[Any] | str, **options: Any) -> list[dict[str, Any]]:
        """The task's predictions under its decode `options` (Task.options; checked here, None = the bundle's)."""
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs)
        options = self.task.check_options(options)
        if not inputs:  # nothing to predict: no answers (a task would build an empty batch and fail)
            return []
        return self.run(inputs, **options)

    def run(self, inputs: list[Any], **options: Any) -> list[dict[str, Any]]:
        """`predict` without the checks (the server checks options once per request, then batches): the
        task's predict on the PyTorch model, or its predict_graphs on the export's onnxruntime graphs."""
        if self.runtime == "onnx":
            return self.task.predict_graphs(self.model.graphs, inputs, **options)
        return self.task.predict(self.model, inputs, **options)

    @property
    def can_trace(self) -> bool:
        """Tracing reads the glass engine's states and gates: PyTorch only, and only tasks that implement it."""
        return self.runtime == "torch" and type(self.task).trace is not Task.trace

    def check_trace(self) -> None:
        """One UserError line where there is no trace to give (`can_trace` false), saying why; nothing otherwise."""
        if self.runtime != "torch":
            raise UserError("tracing needs the PyTorch model (the glass engine's states and gates); an export runs "
                            "its graphs only: trace with the bundle")
        if not self.can_trace:
            raise UserError(f"task {self.task.name!r} does not support tracing")

    def trace(self, input: Any) -> dict[str, Any]:
        return self.trace_many([input])[0]

    def trace_many(self, inputs: list[Any]) -> list[dict[str, Any]]:
        """`trace` of each input, batched where the task can (Task.trace_many)."""
        self.check_trace()
        return self.task.trace_many(self.model, list(inputs))

    @property
    def recurrent(self) -> dict[str, torch.nn.Module]:
        from rnnlab.layers import Recurrent

        return {name: m for name, m in self.model.named_modules() if isinstance(m, Recurrent)}


def _read_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(path, f"not valid JSON ({e})") from None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _not_regular(mode: int) -> str:
    kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
    return f"not a regular file ({kind}); a bundle holds only plain files"


def _read_file(root: Path, file: Path) -> bytes:
    """The bytes of one file of the bundle at `root`, read no further than its size.

    Refused before reading: a link that leads out of the bundle (a hashed link to /etc/passwd would
    otherwise be read and reported on), and anything but a regular file (a link to /dev/zero would be
    read forever, a FIFO would block). The file is opened without following a link and checked again
    once open, so swapping it between the check and the read does not get past either."""
    try:
        real = file.resolve(strict=True)
        before = real.stat()
    except FileNotFoundError:
        raise BundleError(file, "missing (listed in config.json)") from None
    except (OSError, RuntimeError) as e:  # a link loop: OSError (ELOOP), RuntimeError before Python 3.13
        raise BundleError(file, f"cannot read ({getattr(e, 'strerror', None) or e})") from None
    if not real.is_relative_to(root.resolve()):
        raise BundleError(file, f"a link to {real}, outside the bundle; a bundle's files must be in its directory")
    if not stat.S_ISREG(before.st_mode):
        raise BundleError(file, _not_regular(before.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except OSError as e:
        raise BundleError(file, f"cannot read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(f.fileno())
        if not stat.S_ISREG(now.st_mode):
            raise BundleError(file, _not_regular(now.st_mode))
        data = f.read(now.st_size + 1)  # one byte more than its size: a file still growing is caught
    if len(data) != now.st_size:
        raise BundleError(file, "changed while being read; load the bundle again once nothing writes to it")
    return data


def saved_task(run_raw: dict[str, Any], cfg_path: Path, state: dict[str, Any], path: Path) -> tuple[RunConfig, Task]:
    """The run config and the fitted task of a saved model (a bundle, or an export: rnnlab.runtime.load_export), from
    its config (read at `cfg_path`; a config saved before a key was renamed still loads) and its state files by
    name; BundleError naming the config or the directory `path` when either is invalid."""
    try:
        cfg = config_from_dict(run_raw, str(cfg_path), migrate=True)
    except UserError as e:
        raise BundleError(cfg_path, f"invalid config ({e})") from None
    from rnnlab.tasks import get_task_class

    task = get_task_class(cfg.task)(cfg.data, cfg.model)
    try:
        task.state_from_json(state)
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(path, f"task state files are invalid: {e}") from None
    return cfg, task


def load(path: str | Path) -> Predictor:
    """Load a bundle directory (see the module docstring). Raises BundleError naming the bad file. An export
    directory (`rnnlab export`) is refused with a line saying what runs it (rnnlab.runtime.load_predictor)."""
    path = Path(path)
    from rnnlab.runtime import is_export

    if is_export(path):
        raise BundleError(path, "an export directory (ONNX graphs, no PyTorch weights): `rnnlab predict` and "
                                "`rnnlab serve` run it (--runtime onnx); this needs the bundle it was exported from")
    if not path.is_dir():
        raise BundleError(path, "not a bundle directory (not found)" if not path.exists() else "not a directory")
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise BundleError(cfg_path, "missing: every bundle has a config.json")
    raw = _read_json(cfg_path, _read_file(path, cfg_path))
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(cfg_path, f"not an rnnlab bundle config (format should be {FORMAT!r})")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        made_by = (raw.get("versions") or {}).get("rnnlab", "?") if isinstance(raw.get("versions"), dict) else "?"
        raise BundleError(cfg_path, f"bundle format version {version!r} (made by rnnlab {made_by}) is not "
                                    f"supported: this rnnlab reads version {FORMAT_VERSION}")
    listed = raw.get("files")
    if not isinstance(listed, dict) or "model.safetensors" not in listed:
        raise BundleError(cfg_path, "no valid 'files' manifest")
    contents: dict[str, bytes] = {}
    for name, digest in listed.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or "\0" in name \
                or name.startswith("."):
            raise BundleError(cfg_path, f"invalid file name {name!r} in the manifest")
        file = path / name
        data = _read_file(path, file)
        if _sha256(data) != digest:
            raise BundleError(file, "checksum mismatch: the file is truncated or was modified after saving")
        contents[name] = data

    run_raw = {k: raw[k] for k in ("task", "run_dir", "data", "model", "train") if k in raw}
    state = {name[:-5]: _read_json(path / name, data) for name, data in contents.items()
             if name.endswith(".json") and name[:-5] not in RESERVED}
    cfg, task = saved_task(run_raw, cfg_path, state, path)
    model = task.build_model()
    try:
        weights = st_load(contents["model.safetensors"])
    except Exception as e:  # safetensors' own error types
        raise BundleError(path / "model.safetensors", f"not a readable safetensors file ({e})") from None
    for key, tensor in weights.items():
        # the checksum only says the file is as saved; a run that diverged saves NaNs, and a model
        # that answers NaN for every input is better refused here than served
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
            raise BundleError(path / "model.safetensors",
                              f"non-finite weights (NaN or inf) in {key}: the training that saved them diverged; "
                              "retrain, e.g. with a lower train.lr")
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise BundleError(path / "model.safetensors",
                          f"weights do not fit the model in config.json ({' '.join(first[:2])[:300]})") from None
    model.eval()
    metrics = _read_json(path / "metrics.json", contents["metrics.json"]) if "metrics.json" in contents else {}
    card = contents["README.md"].decode("utf-8", "replace") if "README.md" in contents else ""
    return Predictor(task=task, model=model, config=cfg, metrics=metrics, card=card, path=path)
