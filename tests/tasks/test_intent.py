import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError, UserError
from rnnlab.readers.intents import tokenize
from rnnlab.tasks.intent import IntentData, IntentModelConfig, IntentTask


def test_tokenize_splits_punctuation_keeps_contractions():
    assert tokenize("What's the time?") == ["what's", "the", "time", "?"]
    assert tokenize("Set it for 5:45, please!", lowercase=False) == [
        "Set", "it", "for", "5", ":", "45", ",", "please", "!"]


@given(st.lists(st.tuples(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
                          st.sampled_from(["a", "b", "c d"])), min_size=1, max_size=20))
@settings(max_examples=40, deadline=None)
def test_reader_round_trips_jsonl(tmp_path_factory, rows):
    rows = [(t, i) for t, i in rows if tokenize(t)]
    if not rows:
        return
    path = tmp_path_factory.mktemp("r") / "d.jsonl"
    path.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for t, i in rows), encoding="utf-8")
    task = IntentTask(IntentData(train=str(path), test="", valid_fraction=0.0), IntentModelConfig())
    got = task.read("train")
    assert [(e.tokens, e.intent) for e in got] == [(tokenize(" ".join(t.split())), i) for t, i in rows]


def test_demo_data_is_varied_and_split():
    task = IntentTask(IntentData(valid_fraction=0.0), IntentModelConfig())
    train, test = task.read("train"), task.read("test")
    assert 350 <= len(train) + len(test) <= 600 and 0.15 <= len(test) / (len(train) + len(test)) <= 0.25
    intents = {e.intent for e in train}
    assert len(intents) == 8 and {e.intent for e in test} == intents
    texts = [" ".join(e.tokens) for e in train + test]
    assert len(set(texts)) == len(texts)  # no duplicates, so no test sentence is also in train
    assert "what time is it ?" in texts


def test_errors_for_bad_data_and_config(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "intent": "x"}\nnot json\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        IntentTask(IntentData(train=str(bad), test="", valid_fraction=0.0), IntentModelConfig()).read("train")
    with pytest.raises(UserError, match="model.cell"):
        IntentTask(IntentData(), IntentModelConfig(cell="transformer"))
    task = IntentTask(IntentData(valid_fraction=0.0, test=""), IntentModelConfig())
    with pytest.raises(UserError, match="split 'test' is not configured"):
        task.read("test")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_cell_builds_and_step_outputs_match_the_decision(cell):
    task = IntentTask(IntentData(valid_fraction=0.0), IntentModelConfig(cell=cell, embed_size=8, hidden_size=6,
                                                                         num_layers=2))
    train = task.read("train")[:20]
    task.fit(train)
    model = task.build_model().eval()
    batch = task.collate([task.encode(e) for e in train[:5]])
    final, steps = model(batch["tokens"], batch["lengths"])
    assert final.shape == (5, len(task.intents)) and steps.shape[:2] == batch["tokens"].shape
    last = steps[torch.arange(5), batch["lengths"] - 1]
    torch.testing.assert_close(final, last)
    pred = task.predict(model, ["what time is it", "zzz qqq"])
    assert pred[1]["unknown"] == [True, True]  # unknown words: no exception
    trace = task.trace(model, "what time is it")
    assert [(l["layer"], l["direction"]) for l in trace["layers"]] == [(0, "forward"), (1, "forward")]
    assert all(len(l["h"]) == 4 for l in trace["layers"])


def test_influence_is_gradient_times_input():
    task = IntentTask(IntentData(valid_fraction=0.0), IntentModelConfig(embed_size=8, hidden_size=6, dropout=0.0))
    task.fit(task.read("train"))
    torch.manual_seed(0)
    model = task.build_model().eval()
    pred = task.predict(model, ["what time is it"])[0]
    ids = torch.tensor([task.words.encode(pred["tokens"])])
    emb = model.embed(ids).detach().requires_grad_(True)
    final, _ = model(ids, torch.tensor([4]), embedded=emb)
    y = final[0].argmax()
    others = torch.cat([final[0, :y], final[0, y + 1:]])
    (final[0, y] - others.logsumexp(0)).backward()
    expected = (emb.grad * emb).sum(-1)[0]
    torch.testing.assert_close(torch.tensor(pred["influence"]["scores"]), expected, rtol=1e-4, atol=1e-6)
    assert pred["influence"]["target"] == task.intents.itos[int(y)] == pred["answer"]["label"]


@pytest.mark.parametrize("sentence", ["", "   "])
def test_demo_checks_the_sentence_before_training(tmp_path, capsys, sentence):
    from rnnlab.cli import main

    out = tmp_path / "demo"
    assert main(["demo", f"--out={out}", "--epochs", "1", "--sentence", sentence]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sentence" in err and "no words" in err
    assert not out.exists()  # refused before 40 epochs of training, not after
