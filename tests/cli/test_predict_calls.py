"""`rnnlab predict BUNDLE calls.txt`: a file argument expands to one prediction per sequence (api_calls)."""
import json

import pytest

from rnnlab.cli import main
from rnnlab.training import train
from tiny_calls import FAMILIES, calls_config, family_sequence, write_calls_data


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("calls-cli")
    train(calls_config(write_calls_data(tmp / "d"), tmp / "run"), echo=None)
    return tmp / "run" / "bundle"


def test_predict_a_calls_file_gives_each_line_its_family(bundle, tmp_path, capsys):
    import random

    rng = random.Random(7)
    path = tmp_path / "calls.txt"
    path.write_text("".join(",".join(map(str, family_sequence(k, rng, 30))) + "\n" for k in (0, 1, 2, 2)))
    assert main(["predict", str(bundle), str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [f"{path}:{i}" for i in range(1, 5)]
    assert [ln.split("\t")[1].split("'")[1] for ln in lines] == [FAMILIES[k] for k in (0, 1, 2, 2)]
    assert all(ln.split("\t")[1].startswith("family: ") and "%" in ln for ln in lines)
    assert main(["predict", str(bundle), "--json", str(path)]) == 0
    preds = [json.loads(ln) for ln in capsys.readouterr().out.strip().splitlines()]
    assert [p["answer"]["label"] for p in preds] == [FAMILIES[k] for k in (0, 1, 2, 2)]
    assert all(len(p["ranking"]) == 3 and abs(sum(r["probability"] for r in p["ranking"]) - 1) < 1e-4 for p in preds)
    assert preds[0]["tokens"][0].startswith("api_")  # named by the bundle's API index


def test_predict_text_arguments_still_work(bundle, capsys):
    assert main(["predict", str(bundle), "10,11,12,10", "20 21 22"]) == 0  # family 1 calls, family 2 calls
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["10,11,12,10", "20 21 22"]
    assert [ln.split("\t")[1].split("'")[1] for ln in lines] == ["Trojan", "Worms"]


def test_a_bad_file_is_one_line(bundle, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text("1,2\n3,zz\n")
    assert main(["predict", str(bundle), str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}:2" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
