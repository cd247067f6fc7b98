"""Shared by the benchmark tests: a benchmark script loaded as a module (benchmarks/ is not a package)."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark(name: str):
    """benchmarks/NAME.py as the module NAME_bench (registered in sys.modules: dataclasses look it up there)."""
    spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def benchmark_module():
    return load_benchmark
