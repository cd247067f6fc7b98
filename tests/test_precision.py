"""Precision that fits the CPU: "auto" picks bf16 only where the hardware runs it natively.

The no-native-bf16 branch is forced here by patching what the CPU reports, so it runs on every machine;
the native branch is forced the same way (only the decision, not a bf16 kernel, so it runs anywhere).
"""
import json

import pytest
import torch

from hardware import native_bf16_only
from rnnlab import precision
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.training import train
from tiny_intent import tiny_overrides, write_tiny_data


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def unforced(monkeypatch):
    """These tests are about what "auto" decides: not what `pytest --precision` forced it to."""
    monkeypatch.delenv(precision.ENV, raising=False)


@pytest.fixture
def no_native_bf16(monkeypatch):
    """This CPU as an AMD EPYC with AVX2 only: no AMX, no AVX512-BF16."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx", "avx2", "fma"}))
    monkeypatch.setattr(precision, "cpu_capability", lambda: "AVX2")


@pytest.fixture
def native(monkeypatch):
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: True)


def test_auto_is_fp32_without_native_bf16_and_bf16_is_refused_in_one_line(no_native_bf16):
    assert not precision.cpu_native_bf16()
    assert precision.resolve("auto") == "fp32"
    assert precision.resolve("fp32") == "fp32"
    with pytest.raises(UserError, match=r"train.precision=bf16: this CPU .*AVX2.* has no native bf16.*auto or fp32"):
        precision.resolve("bf16")
    with pytest.raises(UserError, match="must be auto, fp32 or bf16"):
        precision.resolve("fp16")
    assert precision.describe("auto", "fp32") == "fp32 (auto: no native bf16 on this CPU)"


def test_auto_is_bf16_where_native(native):
    assert precision.resolve("auto") == "bf16" and precision.resolve("bf16") == "bf16"
    assert precision.describe("auto", "bf16") == "bf16 (auto: native bf16 on this CPU)"


def test_flags_alone_are_not_enough(monkeypatch):
    # AVX512-BF16 in the flags but a torch whose oneDNN says no: not native
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(precision.torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not precision.cpu_native_bf16()


def test_machine_names_cpu_capability_bf16_and_threads():
    m = precision.machine(threads=3)
    assert m["threads"] == 3 and isinstance(m["cpu"], str) and m["cpu"]
    assert m["cpu_capability"] == precision.cpu_capability()
    assert m["native_bf16"] is precision.cpu_native_bf16()


def test_auto_run_says_fp32_in_first_line_config_and_card(paths, tmp_path, no_native_bf16):
    cfg = load_config(None, tiny_overrides(paths, tmp_path / "r", epochs=1))
    assert cfg.train.precision == "auto"  # the default
    lines = []
    summary = train(cfg, echo=lines.append)
    assert lines[0].endswith("(cpu, fp32 (auto: no native bf16 on this CPU))")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["precision"] == "fp32"
    assert json.loads((tmp_path / "r" / "bundle" / "config.json").read_text())["train"]["precision"] == "fp32"
    assert "precision: fp32 (auto: no native bf16 on this CPU)" in (tmp_path / "r" / "bundle" / "README.md").read_text()
    assert summary["precision"].startswith("fp32")


def test_explicit_bf16_without_native_is_one_line_for_train_dry_run_and_memory(paths, tmp_path, capsys, no_native_bf16):
    base = tiny_overrides(paths, tmp_path / "r", epochs=1)
    for argv in (["train", *base, "--precision", "bf16"],
                 ["train", *base, "train.precision=bf16", "--dry-run"],
                 ["memory", "--quick", "--precision", "bf16", "--out", str(tmp_path / "m")]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "has no native bf16" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "m").exists()


def test_dry_run_runs_the_training_precision(paths, tmp_path, capsys, no_native_bf16):
    assert main(["train", *tiny_overrides(paths, tmp_path / "r"), "--dry-run"]) == 0
    assert "fp32 (auto: no native bf16 on this CPU)" in capsys.readouterr().out


def test_shipped_configs_default_to_auto_or_an_explicit_native_precision():
    from pathlib import Path

    import tomllib

    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml")):
        value = tomllib.loads(path.read_text()).get("train", {}).get("precision", "auto")
        assert value in ("auto", "fp32"), path  # an explicit bf16 would fail on CPUs without it


@native_bf16_only
def test_bf16_trains_where_native(paths, tmp_path):
    summary = train(load_config(None, tiny_overrides(paths, tmp_path / "r", epochs=2, precision="bf16")), echo=None)
    assert summary["precision"] == "bf16" and summary["test"]["loss"] == summary["test"]["loss"]


def test_environment_decides_auto_and_the_run_says_so(monkeypatch, no_native_bf16):
    monkeypatch.setenv(precision.ENV, "fp32")
    assert precision.resolve("auto") == "fp32"
    assert precision.describe("auto", "fp32") == "fp32 (auto: RNNLAB_PRECISION=fp32)"
    monkeypatch.setenv(precision.ENV, "bf16")  # forced bf16 on a CPU without it: refused, naming the variable
    with pytest.raises(UserError, match=r"RNNLAB_PRECISION=bf16: this CPU .* has no native bf16"):
        precision.resolve("auto")
    assert precision.resolve("fp32") == "fp32"  # an explicit precision in a config is left as written
    monkeypatch.setenv(precision.ENV, "fp16")
    with pytest.raises(UserError, match="RNNLAB_PRECISION must be auto, fp32 or bf16"):
        precision.resolve("auto")


def test_rel_tolerance_is_one_unit_in_the_last_place():
    assert precision.rel_tolerance("bf16") == 2 ** -7 and precision.rel_tolerance("fp32") == 2 ** -23
    x = torch.tensor([1.0 + 2 ** -8 + 2 ** -12, 1.0 + 2 ** -8 - 2 ** -12])  # either side of a bf16 tie
    a, b = x.bfloat16().float()
    assert abs(a - b) / b <= precision.rel_tolerance("bf16") and a != b
