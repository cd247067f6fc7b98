"""Run configuration: dataclasses filled from a TOML file plus dotted `key=value` overrides.

A run config has four parts: `task` (a registry name), `[data]` and `[model]` (the task's own
DataConfig and ModelConfig dataclasses) and `[train]` (TrainConfig, shared by all tasks):

    task = "intent"
    run_dir = "runs/demo"
    [data]
    train = "package:demo_intents/train.jsonl"
    [model]
    cell = "gru"
    [train]
    epochs = 20

Overrides use the same dotted names: `train.lr=0.003 model.cell=gru`. Values are checked against
the dataclass field types (int, float, bool, str; ints within 64 bits); unknown keys and wrong types are
UserErrors naming the key, where it came from (the file, or the override) and the nearest valid key. An
override of a key the chosen settings never read (`Task.ignored_keys`: data.subword_type under
data.tokenizer = "word") is refused too, rather than silently doing nothing. The resolved config is saved
as JSON (`to_dict`) in the run directory and in every bundle, and read back with
`config_from_dict(..., migrate=True)`.

Renamed keys: a task lists the config keys it has renamed in `Task.RENAMED` ({"model.word_dim":
"model.embed_size"}). A saved config (a bundle's or a run directory's config.json) is migrated as it is
read, so models trained before a renaming still load and score the same; a config the user writes (TOML,
overrides) with an old name is a UserError naming the new one. A key whose meaning changed (translate's
hidden_size, once the decoder's size, now per direction as everywhere) is rewritten in saved configs by
`Task.migrate_saved_config`, so an old bundle still builds the model it was trained as.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib


@dataclass
class TrainConfig:
    """The trainer's settings (rnnlab.training). Same for every task."""

    epochs: int = 10
    batch_size: int = 32  # global batch: split across processes under DDP
    eval_batch_size: int = 128
    optimizer: str = "adamw"  # "adamw", or "task" to use Task.configure_optimizer
    lr: float = 3e-3
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # max global gradient norm; 0 disables clipping
    schedule: str = "cosine"  # "constant" | "cosine" | "linear" (decay to 0 over all steps), after warmup
    warmup_steps: int = 0
    metric: str = ""  # early-stopping / model-selection metric; "" = the task's default metric
    patience: int = 0  # stop after this many epochs without improvement; 0 = run all epochs
    patience_steps: int = 0  # ... and this many optimizer steps without improvement (both must pass)
    min_steps: int = 0  # train at least this many optimizer steps: epochs are added to reach it, and early
    #                     stopping never ends a run before it
    plateau_wait: bool = True  # early stopping counts only once valid has improved on its first value (a CTC
    #                     model's CER sits at 1.0 through its all-blank phase: that is a start, not a plateau)
    adapt: bool = True  # size the batch for small data (rnnlab.training.adapt); the run's config records it
    seed: int = 0
    precision: str = "auto"  # "auto" (bf16 where the hardware runs it natively, else fp32) | "fp32" | "bf16"
    device: str = "cpu"  # "cpu" | "cuda" | "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    checkpoint_every: int = 0  # also checkpoint every N optimizer steps (0: only at epoch end)
    progress: bool = True  # tqdm progress bar on stderr (rank 0)
    max_minutes: float = 0.0  # training-time budget (0 = none): stop when spent; the LR schedule then runs on time


@dataclass
class RunConfig:
    task: str
    data: Any
    model: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    run_dir: str = ""  # "" = runs/<task>


_SCALARS = (bool, int, float, str)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_value(value: Any, typ: Any, key: str, where: str) -> Any:
    """A TOML value checked (and int -> float widened) against a dataclass field type."""
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}
    if typ not in ok:
        raise TypeError(f"config field {key} has unsupported type {typ}")
    if not ok[typ](value):
        raise UserError(f"{where}: {key} must be {typ.__name__}, got {type(value).__name__} {value!r}")
    if typ is int and not -2**63 <= value < 2**63:  # torch and numpy take no wider int: an overflow deep inside
        raise UserError(f"{where}: {key} = {value} is out of range (a 64-bit integer)")
    return float(value) if typ is float else value


def _all_keys(task_cls: type) -> list[str]:
    """Every key a config of this task may set: task, run_dir and the dotted data.X / model.X / train.X."""
    sections = {"data": task_cls.DataConfig, "model": task_cls.ModelConfig, "train": TrainConfig}
    return ["task", "run_dir", *sections] + [f"{s}.{name}" for s, cls in sections.items() for name in _field_types(cls)]


def _unknown(key: str, task_cls: type, where: str) -> UserError:
    """One line for a key no section has: where it came from and the nearest valid key (the same name
    in another section first, else the closest spelling)."""
    known = _all_keys(task_cls)
    name = key.rpartition(".")[2]
    same_name = [k for k in known if k.rpartition(".")[2] == name]
    near = same_name or difflib.get_close_matches(key, known, n=1, cutoff=0.6) \
        or difflib.get_close_matches(name, [k.rpartition(".")[2] for k in known], n=1, cutoff=0.6)
    if near and "." not in near[0] and near[0] not in known:
        near = [next(k for k in known if k.rpartition(".")[2] == near[0])]
    hint = f"; did you mean {near[0]}?" if near else ""
    return UserError(f"{where}: unknown key {key}{hint} (`rnnlab train CONFIG --print-config` lists every key)")


def _parse_override_value(text: str, typ: Any, key: str) -> Any:
    """The string after '=' in an override, parsed as the field's type."""
    try:
        if typ is bool:
            low = text.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            value = int(text)
            if not -2**63 <= value < 2**63:
                raise UserError(f"override {key}={text}: {key} is out of range (a 64-bit integer)")
            return value
        if typ is float:
            return float(text)
        if typ is str:
            return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text
    except ValueError:
        pass
    raise UserError(f"override {key}={text}: {key} must be {typ.__name__}")


def _build(cls: type, values: dict[str, Any], prefix: str, where: str, task_cls: type) -> Any:
    """Instantiate dataclass `cls` from a dict, with every key and type checked."""
    if not isinstance(values, dict):
        raise UserError(f"{where}: [{prefix}] must be a table, not a value ({prefix}.KEY = VALUE)")
    types = _field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise _unknown(f"{prefix}.{unknown[0]}", task_cls, where)
    kwargs = {k: _check_value(v, types[k], f"{prefix}.{k}", where) for k, v in values.items()}
    return cls(**kwargs)


def _renamed(raw: dict[str, Any], renamed: dict[str, str], where: str, migrate: bool) -> dict[str, Any]:
    """`raw` with each old key of `renamed` ("section.key" -> "section.key") moved to its new name
    (migrate=True), or a UserError naming the new name (migrate=False). Never changes `raw` itself."""
    raw = dict(raw)
    for old, new in renamed.items():
        old_section, old_key = old.split(".")
        new_section, new_key = new.split(".")
        section = raw.get(old_section)
        if not isinstance(section, dict) or old_key not in section:
            continue
        if not migrate:
            raise UserError(f"{where}: {old} was renamed to {new}")
        section = dict(section)
        value = section.pop(old_key)
        raw[old_section] = section
        target = dict(raw.get(new_section) or {})
        if new_key in target:
            raise UserError(f"{where}: both {old} and {new} are set ({old} was renamed to {new}); keep {new}")
        target[new_key] = value
        raw[new_section] = target
    return raw


def config_from_dict(raw: dict[str, Any], where: str = "config", migrate: bool = False) -> RunConfig:
    """A RunConfig from nested dicts (parsed TOML or a saved config.json), fully checked.

    migrate=True for configs rnnlab saved (config.json of bundles and run directories): keys the task
    has renamed since (`Task.RENAMED`) are read under their new names. Without it an old name is a
    UserError that names the new one."""
    from rnnlab.tasks import get_task_class

    raw = dict(raw)
    task_name = raw.pop("task", None)
    if not isinstance(task_name, str):
        raise UserError(f"{where}: missing 'task' (e.g. task = \"intent\")")
    task_cls = get_task_class(task_name)
    raw = _renamed(raw, task_cls.RENAMED, where, migrate)
    if migrate:  # values whose meaning changed since the config was saved (Task.migrate_saved_config)
        raw = task_cls.migrate_saved_config(raw)
    run_dir = raw.pop("run_dir", "")
    if not isinstance(run_dir, str):
        raise UserError(f"{where}: run_dir must be str")
    parts = {"data": task_cls.DataConfig, "model": task_cls.ModelConfig, "train": TrainConfig}
    unknown = sorted(set(raw) - set(parts))
    if unknown:
        raise _unknown(unknown[0], task_cls, where)
    built = {name: _build(cls, raw.get(name, {}), name, where, task_cls) for name, cls in parts.items()}
    return RunConfig(task=task_name, run_dir=run_dir, **built)


def apply_overrides(raw: dict[str, Any], overrides: list[str],
                    origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Apply `section.key=value` strings to the raw nested dict, parsing values by field type.
    `origins`, if given, records "override KEY=VALUE" under each dotted key set here."""
    from rnnlab.tasks import get_task_class

    raw = json.loads(json.dumps(raw))  # deep copy
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r}: expected key=value, e.g. train.lr=0.001")
        key, text = item.split("=", 1)
        key = key.strip()
        if origins is not None:
            origins[key] = f"override {item}"
        if key in ("task", "run_dir"):
            raw[key] = text
            continue
        section, _, name = key.partition(".")
        if not isinstance(raw.get("task"), str):
            raise UserError(f"override {item}: set the task first (task=NAME or in the config file)")
        task_cls = get_task_class(raw["task"])
        classes = {"data": task_cls.DataConfig, "model": task_cls.ModelConfig, "train": TrainConfig}
        if key in task_cls.RENAMED:
            raise UserError(f"override {item}: {key} was renamed to {task_cls.RENAMED[key]}")
        if section not in classes or not name or name not in _field_types(classes[section]):
            raise _unknown(key, task_cls, f"override {item}")
        raw.setdefault(section, {})[name] = _parse_override_value(text, _field_types(classes[section])[name], key)
    return raw


def _check_read(cfg: RunConfig, origins: dict[str, str]) -> None:
    """An override (`origins`: key -> "override KEY=VALUE") of a key the chosen settings never read, to other
    than its default, is refused: otherwise the run silently trains without it (Task.ignored_keys says which
    keys, and why). A config file may keep the settings of alternatives (configs/malapi.toml keeps max_calls,
    read by the head strategies its benchmark switches to with overrides), so file keys are not refused."""
    from rnnlab.tasks import get_task_class

    ignored = get_task_class(cfg.task).ignored_keys(cfg.data, cfg.model)
    for key, why in ignored.items():
        if key not in origins:
            continue
        section, name = key.split(".")
        config = getattr(cfg, section)
        default = type(config)()
        if getattr(config, name) != getattr(default, name):
            raise UserError(f"{origins[key]}: {key} is not read: {why}; remove it (or change that setting)")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read a TOML config (optional) and apply overrides -> RunConfig."""
    raw: dict[str, Any] = {}
    where = "overrides"
    if path is not None:
        where = str(path)
        if Path(path).is_dir():
            raise UserError(f"{path}: is a directory, not a TOML config file (e.g. configs/demo.toml)")
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: config file not found") from None
        except OSError as e:
            raise UserError(f"{path}: cannot read the config file ({e.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid TOML ({e})") from None
    origins: dict[str, str] = {}
    cfg = config_from_dict(apply_overrides(raw, list(overrides), origins), where)
    _check_read(cfg, origins)
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """JSON/TOML-able nested dict of a RunConfig."""
    return {"task": cfg.task, "run_dir": cfg.run_dir, "data": dataclasses.asdict(cfg.data),
            "model": dataclasses.asdict(cfg.model), "train": dataclasses.asdict(cfg.train)}


def to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML (for --print-config); values are only bool/int/float/str."""
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a valid TOML basic string
        return repr(v)

    d = to_dict(cfg)
    lines = [f"task = {fmt(d['task'])}", f"run_dir = {fmt(d['run_dir'])}"]
    for section in ("data", "model", "train"):
        lines += ["", f"[{section}]"] + [f"{k} = {fmt(v)}" for k, v in d[section].items()]
    return "\n".join(lines) + "\n"
