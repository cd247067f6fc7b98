"""The layout's one rule: building blocks (modules/, decoding/, metrics/, readers/, detectors/, forecasting/,
audio/, state.py, explain.py) never import an application (rnnlab.tasks) or a shell over them (training, bundles, CLI,
studio)."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "rnnlab"
BLOCKS = [p for d in ("modules", "decoding", "metrics", "readers", "detectors", "forecasting", "audio")
          for p in sorted((SRC / d).glob("*.py"))]
BLOCKS += [SRC / "state.py", SRC / "explain.py", SRC / "layers.py", *sorted((SRC / "cells").glob("*.py"))]
ABOVE = ("rnnlab.tasks", "rnnlab.training", "rnnlab.bundle", "rnnlab.cli", "rnnlab.studio", "rnnlab.generate",
         "rnnlab.fill", "rnnlab.ensemble")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", BLOCKS, ids=[str(p.relative_to(SRC)) for p in BLOCKS])
def test_building_blocks_import_no_task(path):
    bad = sorted(n for n in imported(path) if n.startswith(ABOVE))
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"
