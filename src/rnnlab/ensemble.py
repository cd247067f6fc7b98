"""Join separately trained bundles into one ensemble bundle (`rnnlab ensemble OUT BUNDLE BUNDLE ...`).

Why separately: K small models trained as K one-thread processes use K cores fully, while one process
training K members shares its cores between small matmuls that do not parallelise well. The members must
come from the same task, data and vocabularies (the same training set gives the same vocabularies:
Vocab.build is deterministic) and the same model config apart from `members`; their seeds differ.

The result is an ordinary bundle (config.json with model.members = K, one safetensors file with every
member's weights under `members.<i>.`), scored on the data splits of its config (metrics.json), so
`rnnlab evaluate / predict / serve` and `rnnlab.load` use it like any other. Only tasks whose
build_model honours model.members can be joined (today: intent_slots, see tasks/joint.JointEnsemble).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Callable

from rnnlab.bundle import Predictor, load, save_bundle
from rnnlab.errors import UserError


def _members(p: Predictor) -> list[Any]:
    """A bundle's models: its members if it is already an ensemble, else the model itself."""
    return list(p.model.members) if hasattr(p.model, "members") else [p.model]


def check_output(out: str | Path, inputs: list[str | Path], force: bool) -> None:
    """Refuse an output that would destroy something: one of the inputs (or a directory holding one, such
    as the run directory of a member), anything without --force, and with --force anything but a bundle."""
    target = Path(out).resolve()
    for p in inputs:
        source = Path(p).resolve()
        if source == target or target in source.parents:
            raise UserError(f"{out}: would replace the input bundle {p}; choose another output directory")
    if not target.exists() and not target.is_symlink():
        return
    if not force:
        raise UserError(f"{out} already exists: choose another output directory, or pass --force to replace "
                        f"the bundle there")
    if not (target.is_dir() and (target / "config.json").is_file() and (target / "model.safetensors").is_file()):
        raise UserError(f"{out} is not an rnnlab bundle (no config.json and model.safetensors): it is never "
                        f"replaced, even with --force; choose another output directory")


def combine(paths: list[str | Path], out: str | Path, *, command: str = "", splits: tuple[str, ...] = ("valid", "test"),
            batch_size: int = 128, echo: Callable[[str], None] | None = print, force: bool = False) -> Path:
    """Load the bundles at `paths`, check they can be joined, write the ensemble bundle at `out`.

    metrics.json gets the ensemble's metrics on each of `splits` the config names a path for, each
    member's own metrics (from its bundle) and the member bundles' paths."""
    from rnnlab.tasks import get_task_class
    from rnnlab.training import evaluate

    if len(paths) < 2:
        raise UserError("an ensemble needs at least two bundles")
    check_output(out, paths, force)
    unknown = [s for s in splits if s not in ("train", "valid", "test")]
    if unknown or not splits:
        raise UserError(f"--splits: unknown split {unknown[0]!r}; choose from train, valid, test" if unknown
                        else "--splits: name at least one of train, valid, test")
    loaded = [load(p) for p in paths]
    first = loaded[0]
    if "members" not in {f.name for f in dataclasses.fields(first.config.model)}:
        raise UserError(f"task {first.config.task!r} has no ensembles (its model config has no 'members')")
    base_model = dataclasses.replace(first.config.model, members=1)
    base_state = first.task.state_to_json()
    for p in loaded[1:]:
        if p.config.task != first.config.task:
            raise UserError(f"{p.path}: task {p.config.task!r}, but {first.path} is {first.config.task!r}")
        if dataclasses.replace(p.config.model, members=1) != base_model:
            diff = {k: (getattr(base_model, k), v) for k, v in vars(p.config.model).items()
                    if k != "members" and getattr(base_model, k) != v}
            raise UserError(f"{p.path}: model config differs from {first.path}'s: {diff}")
        if p.task.state_to_json() != base_state:
            raise UserError(f"{p.path}: vocabularies differ from {first.path}'s (trained on other data?)")
    members = [m for p in loaded for m in _members(p)]
    cfg = copy.deepcopy(first.config)
    cfg.model = dataclasses.replace(base_model, members=len(members))
    task = get_task_class(cfg.task)(cfg.data, cfg.model)
    task.state_from_json(base_state)
    model = task.build_model()
    for slot, member in zip(model.members, members):
        slot.load_state_dict(member.state_dict())
    model.eval()

    metrics: dict[str, Any] = {"ensemble_of": [str(p.path) for p in loaded],
                               "members": [p.metrics for p in loaded]}
    for split in splits:
        if not getattr(cfg.data, split, ""):
            continue
        features = [task.encode(e) for e in task.read(split)]
        if features:
            metrics[split] = evaluate(task, model, features, batch_size, next(model.parameters()).device)
            if echo:
                echo(f"ensemble of {len(members)} on {split}: " + "  ".join(
                    f"{k} {v:.4f}" for k, v in metrics[split].items() if isinstance(v, float)))
    return save_bundle(out, task, model, cfg, metrics, command)
