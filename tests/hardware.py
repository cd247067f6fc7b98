"""Test markers for what depends on the CPU."""
import pytest

from rnnlab.precision import cpu_capability, cpu_model, cpu_native_bf16

# What needs the CPU to compute in bf16 (oneDNN's bf16 LSTM, fast bf16 matmuls) skips elsewhere;
# tests/test_precision.py forces the other branch so that it runs on every machine.
native_bf16_only = pytest.mark.skipif(
    not cpu_native_bf16(),
    reason=f"needs native bf16 (AMX or AVX512-BF16); this CPU is {cpu_model()} ({cpu_capability()})")
