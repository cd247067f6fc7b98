"""The declared task interface: a new application is its task file alone.

A toy task (tests/toy_task.py) registered here, and nowhere in the package, trains, evaluates and predicts
through the CLI, with its own decode option, and is served by the studio (card, /predict, the upload path).
"""
from __future__ import annotations

import json
import random

import pytest
from fastapi.testclient import TestClient

import rnnlab
from rnnlab.cli import main
from rnnlab.errors import UserError
from rnnlab.studio.server import create_app
from rnnlab.tasks import TASKS
from rnnlab.tasks.base import INPUT_KINDS, Option, check_prediction


@pytest.fixture(scope="module")
def toy_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    rng = random.Random(0)
    words = ["cat", "dog", "sun", "map"]
    lines = [" ".join(rng.sample(words, 2)) + (str(rng.randrange(10)) if i % 2 else "") for i in range(64)]
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    (folder / "test.txt").write_text("\n".join(lines[:16]) + "\n")
    (folder / "toy.toml").write_text(f'task = "toy_digits"\nrun_dir = "{folder / "run"}"\n'
                                     f'[data]\ntrain = "{folder / "train.txt"}"\ntest = "{folder / "test.txt"}"\n'
                                     "[train]\nepochs = 3\nbatch_size = 8\nthreads = 1\nprogress = false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(TASKS, "toy_digits", "toy_task:ToyTask")  # the one line a new task adds to the package
        assert main(["train", str(folder / "toy.toml")]) == 0
        yield folder / "run" / "bundle"


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TASKS, "toy_digits", "toy_task:ToyTask")


def test_cli_predicts_with_the_tasks_declared_option(toy_bundle, registered, capsys):
    capsys.readouterr()
    assert main(["predict", str(toy_bundle), "cat 7", "dog map", "--json", "--option", "top=1"]) == 0
    preds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["text"] for p in preds] == ["cat 7", "dog map"]
    for p in preds:
        check_prediction(p)
        assert len(p["ranking"]) == 1 and p["answer"] == p["ranking"][0]
    assert main(["predict", str(toy_bundle), "cat 7", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["ranking"]) == 2  # no option: the task's own default


@pytest.mark.parametrize("option, says", [("nope=1", "takes no option nope (its options: top)"),
                                          ("top=0", "option top: must be >= 1"),
                                          ("top=two", "option top: expected int"),
                                          ("top", "--option expects NAME=VALUE")])
def test_a_bad_option_is_one_line(toy_bundle, registered, capsys, option, says):
    capsys.readouterr()
    assert main(["predict", str(toy_bundle), "cat 7", "--option", option]) == 1
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_evaluate_scores_the_toy_task(toy_bundle, registered, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(toy_bundle), "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1.0


def test_the_studio_serves_the_toy_task(toy_bundle, registered):
    predictor = rnnlab.load(toy_bundle)
    with TestClient(create_app(toy_bundle), base_url="http://127.0.0.1:8000") as c:
        card = c.get("/model").json()
        assert card["task"] == "toy_digits" and card["input"] == "text"
        assert card["options"] == [{"name": "top", "type": "int", "help": "labels kept in the ranking, best first"}]
        r = c.post("/predict", json={"text": "sun 3"})
        assert r.status_code == 200 and r.json() == predictor.predict(["sun 3"])[0]
        r = c.post("/upload", params={"name": "lines.txt"}, content=b"sun 3\ncat dog\n")
        assert r.status_code == 200
        assert [i["prediction"] for i in r.json()["items"]] == predictor.predict(["sun 3", "cat dog"])


def test_predictor_checks_options_before_the_model_runs(toy_bundle, registered):
    predictor = rnnlab.load(toy_bundle)
    assert len(predictor.predict(["cat 1"], top="1")[0]["ranking"]) == 1  # a typed value, converted
    with pytest.raises(UserError, match="takes no option beam"):
        predictor.predict(["cat 1"], beam=3)


@pytest.mark.parametrize("value, kind, ok", [("3", int, 3), (3, int, 3), ("0.5", float, 0.5), (2, float, 2.0),
                                             ("true", bool, True), ("nan", float, None), (True, int, None),
                                             ("x", int, None)])
def test_option_check(value, kind, ok):
    option = Option("o", kind, "an option")
    if ok is None:
        with pytest.raises(UserError, match="option o"):
            option.check(value)
    else:
        assert option.check(value) == ok and type(option.check(value)) is kind


def test_every_registered_task_declares_its_input_and_options():
    from rnnlab.tasks import get_task_class

    for name in TASKS:
        cls = get_task_class(name)
        assert cls.input_kind in INPUT_KINDS, name
        assert all(isinstance(o, Option) for o in cls.options), name
        assert len({o.name for o in cls.options}) == len(cls.options), name
