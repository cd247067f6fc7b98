"""Deep ensembles of the joint model: the combination rule, `rnnlab ensemble`, and training with model.members."""
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnlab.bundle import load
from rnnlab.cli import main
from rnnlab.errors import UserError
from rnnlab.modules.crf import CRF
from rnnlab.tasks.joint import JointData, JointEnsemble, JointModelConfig, JointTask

TINY = Path(__file__).resolve().parent.parent / "data" / "slots_tiny.csv"
MODEL = ["model.embed_size=16", "model.char_dim=8", "model.char_filters=16", "model.hidden_size=24",
         "model.dropout=0.0",
         "model.word_dropout=0.1"]
TRAIN = ["train.batch_size=8", "train.lr=0.02", "train.progress=false", "train.warmup_steps=0", "train.clip_norm=5.0"]
DATA = [f"data.train={TINY}", f"data.valid={TINY}", f"data.test={TINY}"]
SHORT = TRAIN + ["train.epochs=6"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Three LSTM+CRF bundles from the tiny CSV that differ only in their seed, and one with another hidden size."""
    root = tmp_path_factory.mktemp("ens")
    out = []
    for seed in (0, 1, 2):
        run = root / f"s{seed}"
        assert main(["train", "task=intent_slots", f"run_dir={run}", *DATA, *MODEL, *SHORT, f"train.seed={seed}",
                     "model.num_layers=1", "--quiet"]) == 0
        out.append(run / "bundle")
    odd = root / "odd"
    assert main(["train", "task=intent_slots", f"run_dir={odd}", *DATA, *MODEL, *SHORT, "model.num_layers=1",
                 "model.hidden_size=16", "--quiet"]) == 0
    return out, odd / "bundle"


def test_ensemble_outputs_are_the_members_means(members, tmp_path, capsys):
    paths, _ = members
    assert main(["ensemble", str(tmp_path / "ens"), *map(str, paths[:2])]) == 0
    assert "ensemble of 2 on test" in capsys.readouterr().out
    ens = load(tmp_path / "ens")
    a, b = load(paths[0]), load(paths[1])
    assert isinstance(ens.model, JointEnsemble) and ens.config.model.members == 2
    task = ens.task
    batch = task.collate([task._tokens(t.split()) for t in ["play adele on spotify", "wake me up at 7 am"]])
    with torch.no_grad():
        out = ens.model(batch["words"], batch["chars"], batch["lengths"])
        oa = a.model(batch["words"], batch["chars"], batch["lengths"])
        ob = b.model(batch["words"], batch["chars"], batch["lengths"])
    mean = (oa["intent"].softmax(-1) + ob["intent"].softmax(-1)) / 2
    assert torch.allclose(out["intent"].softmax(-1), mean, atol=1e-6)
    assert torch.allclose(out["steps"].exp(), (oa["steps"].softmax(-1) + ob["steps"].softmax(-1)) / 2, atol=1e-6)
    assert torch.allclose(out["slots"], (oa["slots"] + ob["slots"]) / 2, atol=1e-6)
    # the decoded path maximises the MEAN of the members' CRF scores: brute-force check of that rule
    crf = ens.model.crf
    assert isinstance(crf, CRF)
    assert torch.allclose(crf.transitions, (a.model.crf.transitions + b.model.crf.transitions) / 2)
    [path] = ens.model.decode_slots(out["slots"][:1], batch["lengths"][:1])
    n = int(batch["lengths"][0])

    @torch.no_grad()
    def mean_score(tags):
        t = torch.tensor([tags])
        return sum(float(m.crf.path_score(o["slots"][:1, :n], t, batch["lengths"][:1])) for m, o in
                   ((a.model, oa), (b.model, ob))) / 2

    best = mean_score(path)
    # every single-tag change of the path scores no higher (Viterbi optimum under the mean score)
    allowed = crf.transition_mask == 0
    for i in range(n):
        for k in range(len(task.tags)):
            alt = path[:i] + [k] + path[i + 1:]
            if all(allowed[x, y] for x, y in zip(alt, alt[1:])) and bool(crf.start_mask[alt[0]] == 0):
                assert mean_score(alt) <= best + 1e-4
    # one bundle file set: config, safetensors with every member, vocabularies, metrics incl. members'
    weights = load_file(tmp_path / "ens" / "model.safetensors")
    assert {k.split(".")[1] for k in weights} == {"0", "1"}
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert len(metrics["members"]) == 2 and set(metrics["test"]) >= {"intent_accuracy", "slot_f1", "exact_match"}
    # predict / trace work as for one model; probabilities are still distributions
    [p] = ens.predict(["play adele on spotify"])
    tags = [s["tag"] for s in p["steps"]]
    assert abs(sum(x["probability"] for x in p["ranking"]) - 1) < 1e-3 and len(tags) == 4
    assert ens.trace("play adele on spotify")["answer"]["label"] == p["answer"]["label"]


def test_ensemble_of_an_ensemble_flattens_and_scores(members, tmp_path):
    paths, _ = members
    main(["ensemble", str(tmp_path / "two"), *map(str, paths[:2]), "--splits", "test"])
    assert main(["ensemble", str(tmp_path / "three"), str(tmp_path / "two"), str(paths[2])]) == 0
    ens = load(tmp_path / "three")
    assert len(ens.model.members) == 3
    assert set(ens.metrics) >= {"valid", "test"}
    assert 0.0 <= ens.metrics["test"]["exact_match"] <= 1.0


def test_ensemble_refuses_mismatched_bundles(members, tmp_path, capsys):
    paths, odd = members
    with pytest.raises(UserError, match="model config differs.*hidden"):
        from rnnlab.ensemble import combine
        combine([paths[0], odd], tmp_path / "x", echo=None)
    assert main(["ensemble", str(tmp_path / "y"), str(paths[0])]) == 1
    assert "at least two" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_training_with_members_trains_each_member(tmp_path):
    run = tmp_path / "m2"
    assert main(["train", "task=intent_slots", f"run_dir={run}", *DATA, *MODEL, *SHORT, "model.num_layers=1",
                 "model.members=2", "--quiet"]) == 0
    p = load(run / "bundle")
    assert isinstance(p.model, JointEnsemble) and len(p.model.members) == 2
    w0 = p.model.members[0].slot_head.weight
    w1 = p.model.members[1].slot_head.weight
    assert not torch.allclose(w0, w1)  # independently initialised and trained
    assert p.metrics["test"]["intent_accuracy"] >= 0.9
    assert math.isfinite(p.metrics["test"]["loss"])


def test_members_must_be_positive():
    with pytest.raises(UserError, match="members must be >= 1"):  # checked as the task is constructed
        JointTask(JointData(), JointModelConfig(members=0))


def test_ensemble_replaces_its_own_output_only_with_force(members, tmp_path, capsys):
    paths, _ = members
    out = tmp_path / "ens"
    argv = ["ensemble", str(out), *map(str, paths[:2]), "--splits", "test"]
    assert main(argv) == 0
    first = (out / "config.json").read_text()
    capsys.readouterr()
    assert main(argv) == 1
    assert "already exists" in capsys.readouterr().err and (out / "config.json").read_text() == first
    assert main(argv + ["--force"]) == 0
    assert load(out).config.model.members == 2
