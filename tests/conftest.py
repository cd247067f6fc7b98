"""Fixtures shared across the test tree."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy 2-core machine OpenMP barriers stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


from rnnlab.precision import cpu_capability, cpu_model, cpu_native_bf16  # noqa: E402

# What needs the CPU to compute in bf16 (oneDNN's bf16 LSTM, fast bf16 matmuls) skips elsewhere;
# tests/test_precision.py forces the other branch so that it runs on every machine.
native_bf16_only = pytest.mark.skipif(
    not cpu_native_bf16(),
    reason=f"needs native bf16 (AMX or AVX512-BF16); this CPU is {cpu_model()} ({cpu_capability()})")
