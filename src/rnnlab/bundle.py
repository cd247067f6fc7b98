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
config.json and its state files, builds the model and loads the weights strictly.
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load, save as st_save

from rnnlab.checkpoint import atomic_write_bytes, fsync_dir
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
    from rnnlab import __version__

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
    for k in ("best_epoch", "epochs_run", "train_time_s", "world_size"):
        if k in metrics:
            lines.append(f"\n{k}: {metrics[k]}")
    lines += ["", "## Use", "", "```", f"rnnlab predict BUNDLE \"your text\"",
              "python -c \"import rnnlab; print(rnnlab.load('BUNDLE').predict(['your text']))\"", "```", ""]
    return "\n".join(lines)


def save_bundle(path: str | Path, task: Task, model: torch.nn.Module, cfg: RunConfig, metrics: dict[str, Any],
                command: str = "") -> Path:
    """Write a bundle directory at `path` (replacing one already there). Returns the path.

    Files are written into a temporary sibling directory first, then swapped in, so a crash leaves
    either the old bundle or the new one."""
    path = Path(path)
    files: dict[str, bytes] = {}
    # private contiguous copies: safetensors rejects tensors sharing storage (tied embeddings)
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
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
    try:
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        fsync_dir(path.parent)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


@dataclass
class Predictor:
    """A loaded bundle, ready to predict. `model` is in eval mode on CPU.

    predict(texts)  -> list of JSON-able dicts (the task's predict)
    trace(text)     -> JSON-able dict of per-token states/gates/influences (the task's trace)
    recurrent       -> the model's rnnlab.Recurrent layers, by attribute name
    """

    task: Task
    model: torch.nn.Module
    config: RunConfig
    metrics: dict[str, Any]
    card: str
    path: Path

    def predict(self, inputs: list[Any] | str) -> list[dict[str, Any]]:
        if isinstance(inputs, str):
            inputs = [inputs]
        return self.task.predict(self.model, list(inputs))

    def trace(self, input: Any) -> dict[str, Any]:
        return self.task.trace(self.model, input)

    @property
    def recurrent(self) -> dict[str, torch.nn.Module]:
        from rnnlab import Recurrent

        return {name: m for name, m in self.model.named_modules() if isinstance(m, Recurrent)}


def _read_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(path, f"not valid JSON ({e})") from None


def load(path: str | Path) -> Predictor:
    """Load a bundle directory (see the module docstring). Raises BundleError naming the bad file."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(path, "not a bundle directory (not found)" if not path.exists() else "not a directory")
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise BundleError(cfg_path, "missing: every bundle has a config.json")
    raw = _read_json(cfg_path, cfg_path.read_bytes())
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
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(cfg_path, f"invalid file name {name!r} in the manifest")
        file = path / name
        if not file.exists():
            raise BundleError(file, "missing (listed in config.json)")
        data = file.read_bytes()
        if _sha256(data) != digest:
            raise BundleError(file, "checksum mismatch: the file is truncated or was modified after saving")
        contents[name] = data

    run_raw = {k: raw[k] for k in ("task", "run_dir", "data", "model", "train") if k in raw}
    try:
        cfg = config_from_dict(run_raw, str(cfg_path))
    except UserError as e:
        raise BundleError(cfg_path, f"invalid config ({e})") from None
    from rnnlab.tasks import get_task_class

    task = get_task_class(cfg.task)(cfg.data, cfg.model)
    state = {}
    for name, data in contents.items():
        if name.endswith(".json") and name[:-5] not in RESERVED:
            state[name[:-5]] = _read_json(path / name, data)
    try:
        task.state_from_json(state)
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(path, f"task state files are invalid: {e}") from None
    model = task.build_model()
    try:
        weights = st_load(contents["model.safetensors"])
    except Exception as e:  # safetensors' own error types
        raise BundleError(path / "model.safetensors", f"not a readable safetensors file ({e})") from None
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
