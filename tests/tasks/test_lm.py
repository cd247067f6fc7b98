"""rnnlab.tasks.lm: stream batching for truncated BPTT, carried state, whole-split evaluation, data."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from rnnlab.errors import DataError
from rnnlab.state import detach
from rnnlab.tasks import get_task_class
from rnnlab.tasks.lm import (
    CharLMData,
    CharLMTask,
    LMModelConfig,
    WordLMData,
    WordLMTask,
    blocks,
    fit_state,
    stream_batches,
    windows,
)


@pytest.mark.parametrize("n_tokens", [2, 7, 50, 101])
@pytest.mark.parametrize("bptt", [1, 3, 10])
@pytest.mark.parametrize("batch_size", [1, 3, 4])
def test_batches_cover_the_stream_once_with_targets_shifted_by_one(n_tokens, bptt, batch_size):
    stream = list(range(n_tokens))
    task = CharLMTask(CharLMData(bptt=bptt), LMModelConfig())
    feats = [{"ids": w} for w in windows(stream, bptt)]
    batches = task.batches(feats, batch_size, shuffle=True)
    targets, previous = [], None
    for indices in batches:
        batch = task.collate([feats[i] for i in indices])
        x, y = batch["inputs"], batch["targets"]
        real = y != -100
        assert torch.equal(y[real], x[real] + 1)  # the target is the next token of the stream
        targets += y[real].tolist()
        if previous is not None:  # row b continues where row b of the previous batch stopped
            rows = x.shape[0]
            assert rows <= previous.shape[0]
            assert torch.equal(x[:, 0], previous[:rows])
        last = torch.where(real, y, torch.full_like(y, -1)).max(1).values  # last real target per row
        previous = last
    assert sorted(targets) == stream[1:]  # every token but the first is predicted exactly once


def test_stream_batches_columns_are_contiguous():
    assert stream_batches(7, 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert stream_batches(0, 4) == []


def test_fit_state_keeps_the_first_rows():
    h = torch.arange(2 * 5 * 3.0).view(2, 5, 3)
    assert torch.equal(fit_state(h, 3), h[:, :3])
    h2, c2 = fit_state((h, h + 1), 2)
    assert torch.equal(c2, (h + 1)[:, :2])
    assert fit_state(None, 4) is None


def test_carried_state_is_detached_between_chunks():
    torch.manual_seed(0)
    task = CharLMTask(CharLMData(bptt=6), LMModelConfig(embed_size=8, hidden_size=8, num_layers=2))
    stream = list("abcdefghij" * 10)
    task.fit([stream])
    feats = [task.encode(w) for w in windows(stream, 6)]
    model = task.build_model()
    carry = None
    for indices in task.batches(feats, 4, shuffle=True)[:3]:
        out = task.loss(model, task.collate([feats[i] for i in indices]), carry)
        out.total.backward()  # would fail on the 2nd chunk ("backward through the graph a second time")
        h, c = out.carry       # if the carried state still held the previous chunk's graph
        assert h.grad_fn is None and c.grad_fn is None and not h.requires_grad
        carry = out.carry
    assert detach(None) is None


def test_evaluate_counts_every_token_of_the_split():
    torch.manual_seed(0)
    task = CharLMTask(CharLMData(bptt=5), LMModelConfig(embed_size=8, hidden_size=8, num_layers=1))
    stream = list("to be or not to be, that is the question")
    task.fit([stream])
    feats = [task.encode(w) for w in windows(stream, 5)]
    model = task.build_model().eval()
    for batch_size in (1, 2, 3, 100):
        batches = [task.collate([feats[i] for i in b]) for b in task.batches(feats, batch_size, shuffle=False)]
        metrics = task.evaluate(model, batches)
        assert metrics["tokens"] == len(stream) - 1
        assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
        assert metrics["bits_per_char"] == pytest.approx(metrics["loss"] / math.log(2))
    # one column reads the whole stream with carried state = one pass over all of it
    logits, _ = model(torch.tensor([task.vocab.encode(stream[:-1])]))
    full = torch.nn.functional.cross_entropy(logits[0], torch.tensor(task.vocab.encode(stream[1:])))
    batches = [task.collate([feats[i] for i in b]) for b in task.batches(feats, 1, shuffle=False)]
    assert task.evaluate(model, batches)["loss"] == pytest.approx(full.item(), abs=1e-5)


def test_blocks_are_the_full_windows_and_drop_a_final_partial_one():
    assert blocks(list(range(12)), 3) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]  # 10 and 11 not scored
    assert blocks(list(range(10)), 3) == windows(list(range(10)), 3)  # 9 targets: three full blocks exactly
    assert blocks(list(range(3)), 3) == []


def test_independent_blocks_reset_the_state_at_every_block(char_bundle):
    """nanoGPT's protocol: a fresh context per block, the mean over all targets of all full blocks."""
    import rnnlab
    from rnnlab.training import evaluate

    pred = rnnlab.load(char_bundle)
    task, model = pred.task, pred.model
    stream, size = task.stream("valid"), 16
    examples = task.read_blocks("valid", size)
    assert len(examples) == (len(stream) - 1) // size and (len(stream) - 1) % size  # a partial block, dropped
    assert [t for b in examples for t in b[1:]] == stream[1:len(examples) * size + 1]  # targets tile the split
    total = 0.0
    with torch.no_grad():
        for block in examples:  # by hand: one block at a time, from the zero state
            ids = torch.tensor([task.vocab.encode(block)])
            logits, _ = model(ids[:, :-1], None)
            total += torch.nn.functional.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
    by_hand = total / (len(examples) * size)
    feats = [task.encode(b) for b in examples]

    def independent(feats, batch_size):
        batches = [task.collate(feats[i:i + batch_size]) for i in range(0, len(feats), batch_size)]
        return task.evaluate(model, batches, independent=True)

    for batch_size in (1, 5, 100):  # any grouping of the blocks gives the same mean
        metrics = independent(feats, batch_size)
        assert metrics["tokens"] == len(examples) * size
        assert metrics["loss"] == pytest.approx(by_hand, abs=1e-5)
    # the text repeats every ~110 characters: the carried state, which saw it all, predicts it far better than
    # 16 characters of context do, and 4 characters do worse still
    stream_loss = evaluate(task, model, [task.encode(w) for w in task.read("valid")], 4, torch.device("cpu"))["loss"]
    assert by_hand > stream_loss + 0.1
    assert independent([task.encode(b) for b in task.read_blocks("valid", 4)], 8)["loss"] > by_hand + 0.1
    with pytest.raises(DataError, match="too short for one block"):
        task.read_blocks("valid", len(stream))


def test_registry_and_word_stream(tmp_path):
    assert get_task_class("charlm") is CharLMTask and get_task_class("wordlm") is WordLMTask
    (tmp_path / "t.txt").write_text(" the cat sat \n the N dogs \n")
    task = WordLMTask(WordLMData(train=str(tmp_path / "t.txt"), valid=str(tmp_path / "t.txt"), test="",
                                 bptt=3), LMModelConfig())
    assert task.splits() == ["train", "valid"]
    train = task.read("train")
    task.fit(train)
    assert train == [["the", "cat", "sat", "<eos>"], ["<eos>", "the", "N", "dogs"], ["dogs", "<eos>"]]
    assert task.vocab.itos[:2] == ["<unk>", "<eos>"]
    assert task.tokenize("The 1,234 cats") == ["the", "N", "cats"]  # PTB's forms; unseen words stay (-> <unk>)
    back = WordLMTask(WordLMData(train=str(tmp_path / "t.txt"), valid=str(tmp_path / "t.txt"), test="",
                                 bptt=100, reverse=True), LMModelConfig())
    assert back.read("train") == [["<eos>", "dogs", "N", "the", "<eos>", "sat", "cat", "the"]]


def test_bad_text_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nsecond \xff line\n")
    task = CharLMTask(CharLMData(text=str(bad)), LMModelConfig())
    with pytest.raises(DataError, match=r"bad.txt:2: not valid UTF-8"):
        task.read("train")
    with pytest.raises(DataError, match="file not found"):
        CharLMTask(CharLMData(text=str(tmp_path / "missing.txt")), LMModelConfig()).read("train")


def test_predict_and_trace_give_next_token_distributions(char_bundle):
    import rnnlab

    pred = rnnlab.load(char_bundle)
    out = pred.predict(["ROMEO: But so"])[0]
    assert out["tokens"] == list("ROMEO: But so")
    assert len(out["steps"]) == len(out["tokens"])
    assert out["ranking"][0]["label"] == "f"  # "soft" is in every line of the training text
    assert out["answer"] == out["ranking"][0] and out["answer_kind"] == "next char" and out["task"] == "charlm"
    assert sum(t["probability"] for t in out["ranking"]) <= 1 + 1e-6
    assert all(len(s["ranking"]) == 5 for s in out["steps"])
    trace = pred.trace("ROMEO")
    assert len(trace["influence"]["scores"]) == 5
    assert trace["influence"]["target"] == trace["answer"]["label"]
    layer = trace["layers"][0]
    assert set(layer["gates"]) == {"in_gate", "forget_gate", "cell_candidate", "out_gate"}
    assert len(layer["h"]) == 5 and len(layer["c"][0]) == 48
    assert pred.task.input_length("ROMEO") == 5


DATA = os.environ.get("RNNLAB_DATA")


@pytest.mark.skipif(not DATA, reason="set RNNLAB_DATA to the shared data directory to read the real corpora")
def test_real_corpora_sizes():
    char = CharLMTask(CharLMData(), LMModelConfig())
    train, valid = char.stream("train"), char.stream("valid")
    assert len(train) + len(valid) == 1_115_394 and len(train) == int(1_115_394 * 0.9)
    char.fit(char.read("train"))
    assert len(char.vocab) == 65 + 1  # 65 characters + <unk>
    word = WordLMTask(WordLMData(), LMModelConfig())
    lines = {s: len(Path(DATA, f"ptb/ptb.{s}.txt").read_text().splitlines()) for s in ("train", "valid", "test")}
    words = {"train": 887_521, "valid": 70_390, "test": 78_669}
    for split in ("train", "valid", "test"):
        assert len(word.stream(split)) == words[split] + lines[split]  # + one <eos> per sentence
    word.fit(word.read("train"))
    assert len(word.vocab) == 10_000  # Mikolov's vocabulary, <unk> and <eos> included


def test_split_epochs_cut_one_pass_into_parts():
    task = CharLMTask(CharLMData(bptt=4, split_epochs=3), LMModelConfig())
    feats = [{"ids": w} for w in windows(list(range(200)), 4)]
    whole = task.batches(feats, 5, shuffle=False)
    parts = [task.batches(feats, 5, shuffle=True, epoch=e) for e in range(3)]
    assert sum(parts, []) == whole  # three epochs = one pass, in stream order
    assert task.batches(feats, 5, shuffle=True, epoch=3) == parts[0]


def test_time_budget_stops_training_with_the_schedule_finished(tmp_path):
    """train.max_minutes: training stops when the budget is spent and the cosine LR reaches 0 by then."""
    from rnnlab.config import load_config
    from rnnlab.training import lr_factor, train

    (tmp_path / "t.txt").write_text("abcdefgh" * 400)
    cfg = load_config(None, ["task=charlm", f"run_dir={tmp_path / 'run'}", f"data.text={tmp_path / 't.txt'}",
                             "data.bptt=8", "model.hidden_size=8", "model.embed_size=4", "model.num_layers=1",
                             "train.epochs=1000", "train.batch_size=4", "train.max_minutes=0.0001",
                             "train.progress=false"])
    summary = train(cfg, echo=None)
    # 6 ms: one step, not 1000 epochs
    assert summary["epochs_run"] == 1 and summary["out_of_time"] and not summary["stopped_early"]
    assert lr_factor(cfg.train, 1, 10_000, time_progress=1.0) == 0.0
    assert lr_factor(cfg.train, 1, 10_000, time_progress=0.5) == pytest.approx(0.5)


def test_time_budget_is_not_overrun(tmp_path):
    """Training stops when one more step (as slow as the slowest so far) would end past the budget, so
    the reported training time is within it, and close to it."""
    from rnnlab.config import load_config
    from rnnlab.training import train

    torch.set_num_threads(1)
    (tmp_path / "t.txt").write_text("abcdefgh" * 400)
    budget_s = 1.5
    cfg = load_config(None, ["task=charlm", f"run_dir={tmp_path / 'run'}", f"data.text={tmp_path / 't.txt'}",
                             "data.bptt=8", "model.hidden_size=16", "model.embed_size=4", "model.num_layers=1",
                             "train.epochs=100000", "train.batch_size=4", f"train.max_minutes={budget_s / 60}",
                             "train.progress=false"])
    summary = train(cfg, echo=None)
    assert summary["out_of_time"] and not summary["stopped_early"]
    assert budget_s * 0.5 < summary["train_time_s"] <= budget_s


def test_resume_mid_epoch_continues_the_carried_state(tmp_path, monkeypatch):
    """A crash after a mid-epoch checkpoint, then --resume: the carried hidden state comes back from the
    checkpoint, so every epoch's losses equal an uninterrupted run's (a restarted state would change them)."""
    import json

    from rnnlab.checkpoint import load_state
    from rnnlab.config import load_config
    from rnnlab.tasks.lm import CharLMTask
    from rnnlab.training import train

    torch.set_num_threads(1)
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 30)

    def cfg(run):
        return load_config(None, ["task=charlm", f"run_dir={tmp_path / run}", f"data.text={tmp_path / 't.txt'}",
                                  "data.bptt=8", "model.hidden_size=16", "model.embed_size=8", "model.num_layers=1",
                                  "model.dropout=0.1", "train.epochs=2", "train.batch_size=4", "train.lr=0.01",
                                  "train.checkpoint_every=5", "train.progress=false", "train.seed=1"])

    train(cfg("ref"), echo=None)
    real_loss, calls = CharLMTask.loss, [0]

    def crash_at_step_8(self, model, batch, carry=None):  # after the checkpoint at step 5, mid-epoch 1
        calls[0] += 1
        if calls[0] == 8:
            raise KeyboardInterrupt
        return real_loss(self, model, batch, carry)

    monkeypatch.setattr(CharLMTask, "loss", crash_at_step_8)
    with pytest.raises(KeyboardInterrupt):
        train(cfg("crash"), echo=None)
    monkeypatch.setattr(CharLMTask, "loss", real_loss)
    state = load_state(tmp_path / "crash" / "checkpoint.safetensors")
    assert state["position"]["step"] == 5 and state["position"]["epoch"] == 0
    h, c = state["carry"]  # the LSTM's (h, c) after step 5: (layers, batch, hidden)
    assert h.shape == c.shape == (1, 4, 16) and h.abs().sum() > 0
    train(cfg("crash"), resume=True, echo=None)
    lines = {run: [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
             for run in ("ref", "crash")}
    assert len(lines["ref"]) == len(lines["crash"]) == 2
    for a, b in zip(lines["ref"], lines["crash"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=1e-5)
