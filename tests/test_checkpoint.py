import os
import random

import numpy as np
import pytest
import torch

from rnnlab.checkpoint import (
    atomic_write_bytes,
    dumps_state,
    load_state,
    loads_state,
    rng_state,
    save_state,
    set_rng_state,
)


def test_round_trip_of_nested_training_state(tmp_path):
    model = torch.nn.LSTM(3, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.randn(5, 2, 3))[0].sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state(),
             "position": {"epoch": 2, "step": 7, "best": None, "ratio": 0.25, "names": ["a", "b"]}}
    save_state(tmp_path / "ck.safetensors", state)
    back = load_state(tmp_path / "ck.safetensors")
    for k, v in state["model"].items():
        torch.testing.assert_close(back["model"][k], v)
    assert back["position"] == state["position"]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)  # tuples survive
    assert set(back["optimizer"]["state"]) == set(state["optimizer"]["state"])  # int keys survive
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.1)
    opt2.load_state_dict(back["optimizer"])
    torch.testing.assert_close(opt2.state_dict()["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])


def test_rng_states_restore_every_generator():
    saved = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(2))
    set_rng_state(loads_state(dumps_state({"rng": saved}))["rng"])
    b = (random.random(), np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_no_pickle_inside():
    data = dumps_state({"x": torch.ones(2), "y": {"z": (1, 2)}})
    assert b"\x80\x04" not in data[:16] and data[8:9] == b"{"  # safetensors: u64 length then a JSON header


@pytest.mark.parametrize("cut", [3, 20, -5])
def test_truncated_or_foreign_files_are_rejected(tmp_path, cut):
    data = dumps_state({"x": torch.arange(100.0)})
    with pytest.raises(ValueError):
        loads_state(data[:cut])
    from safetensors.torch import save

    with pytest.raises(ValueError, match="not an rnnlab checkpoint"):
        loads_state(save({"x": torch.ones(1)}))


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary file left behind


def test_tied_weights_are_stored(tmp_path):
    emb = torch.nn.Embedding(4, 3)
    head = torch.nn.Linear(3, 4, bias=False)
    head.weight = emb.weight  # tied, as in language models
    save_state(tmp_path / "t.safetensors", {"a": emb.weight, "b": head.weight})
    back = load_state(tmp_path / "t.safetensors")
    torch.testing.assert_close(back["a"], back["b"])
