"""The layout's rules, read from the import statements of every source file:

- building blocks (cells/, engines/, layers.py, state.py, modules/, decoding/, metrics/, readers/, detectors/,
  forecasting/, audio/, explain.py, prediction.py) never import an application (rnnlab.tasks) or a shell over
  them (training, bundles, CLI, studio), nor the package root (`rnnlab`, which imports the shells);
- no task imports another task (shared pieces live in the blocks), nor the package root;
- the shells (training, bundle, CLI, studio) do not import the package root either: what they use has a module.
"""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "rnnlab"
BLOCK_DIRS = ("cells", "engines", "modules", "decoding", "metrics", "readers", "detectors", "forecasting", "audio",
              "vision")
BLOCKS = [p for d in BLOCK_DIRS for p in sorted((SRC / d).glob("*.py"))]
BLOCKS += [SRC / f for f in ("state.py", "explain.py", "layers.py", "prediction.py", "version.py", "errors.py")]
TASKS = sorted((SRC / "tasks").glob("*.py"))
SHELLS = [SRC / "bundle.py", SRC / "ensemble.py", *sorted((SRC / "training").glob("*.py")),
          *sorted((SRC / "cli").glob("*.py")), *sorted((SRC / "studio").glob("*.py"))]
ABOVE = ("rnnlab.tasks", "rnnlab.training", "rnnlab.bundle", "rnnlab.cli", "rnnlab.studio", "rnnlab.generate",
         "rnnlab.fill", "rnnlab.ensemble")


def module_of(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, absolute: `from ..layers import X` in rnnlab/modules/a.py is rnnlab.layers,
    `from . import fused` in rnnlab/engines/__init__.py is rnnlab.engines.fused, `from rnnlab import X` is rnnlab."""
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[: len(base) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            for alias in node.names:  # `from rnnlab import precision` imports the module rnnlab.precision
                sub = f"{module}.{alias.name}"
                names.add(sub if _is_module(sub) else module)
    return names


def _is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_resolver_reads_relative_imports():
    assert "rnnlab.engines.fused" in imported(SRC / "engines" / "__init__.py")
    assert "rnnlab.engines" in imported(SRC / "layers.py")
    train = imported(SRC / "cli" / "train.py")  # `from rnnlab import precision`: the module, not the root
    assert "rnnlab.precision" in train and "rnnlab" not in train


@pytest.mark.parametrize("path", BLOCKS, ids=[str(p.relative_to(SRC)) for p in BLOCKS])
def test_building_blocks_import_no_task_and_not_the_root(path):
    bad = sorted(n for n in imported(path) if n.startswith(ABOVE) or n == "rnnlab")
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


@pytest.mark.parametrize("path", TASKS, ids=[p.name for p in TASKS])
def test_no_task_imports_another_task(path):
    own = module_of(path)
    shared = ("rnnlab.tasks.base", "rnnlab.tasks")  # the interface and the registry are not tasks
    bad = sorted(n for n in imported(path) if n == "rnnlab" or (n.startswith(ABOVE) and n not in shared and n != own))
    assert not bad, f"tasks/{path.name} imports {bad}"


@pytest.mark.parametrize("path", SHELLS, ids=[str(p.relative_to(SRC)) for p in SHELLS])
def test_shells_do_not_import_the_package_root(path):
    assert "rnnlab" not in imported(path), f"{path.relative_to(SRC)} imports the package root"


@pytest.mark.parametrize("path", TASKS, ids=[p.name for p in TASKS])
def test_tasks_are_wiring_no_function_over_60_lines(path):
    """tasks/ holds configs and wiring: anything longer is a building block waiting to move to its folder."""
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert not long, f"tasks/{path.name}: {', '.join(long)}"
