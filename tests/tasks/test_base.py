import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import UserError
from rnnlab.tasks import TASKS, Task, bucket_batches, get_task_class


@given(st.lists(st.integers(1, 60), min_size=0, max_size=300), st.integers(1, 40), st.booleans(),
       st.integers(0, 5), st.integers(0, 3))
@settings(max_examples=60, deadline=None)
def test_bucket_batches_is_a_deterministic_partition(lengths, batch_size, shuffle, seed, epoch):
    batches = bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))  # every example exactly once
    assert all(1 <= len(b) <= batch_size for b in batches)
    if lengths:
        # near-equal cuts: no tiny last batch unless the data is smaller than half a batch
        assert min(len(b) for b in batches) >= min(len(lengths), batch_size) // 2
    assert batches == bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)


def test_bucketing_reduces_padding_and_epochs_differ():
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]
    batches = bucket_batches(lengths, 20, shuffle=True, seed=0, epoch=0)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded < 1.1 * sum(lengths)
    assert batches != bucket_batches(lengths, 20, shuffle=True, seed=0, epoch=1)


def test_registry():
    assert get_task_class("intent").name == "intent"
    assert all(issubclass(get_task_class(n), Task) for n in ["intent"])
    assert "intent" in TASKS
    with pytest.raises(UserError, match="unknown task"):
        get_task_class("nope")
