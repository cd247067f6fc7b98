"""`rnnlab detect`: a tiny log_anomaly bundle trained here, verdicts per session, --json, --top-g, one-line errors."""
import json
import random

import pytest

from rnnlab.cli import main
from tiny_intent import tiny_overrides, write_tiny_data


def _session(rng: random.Random) -> str:
    return "1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 3))) + " 6"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detect")
    rng = random.Random(0)
    (tmp / "train.txt").write_text("".join(_session(rng) + "\n" for _ in range(150)))
    overrides = ["task=log_anomaly", f"run_dir={tmp / 'run'}", f"data.train={tmp / 'train.txt'}",
                 "model.window=4", "model.top_g=2", "model.hidden_size=24", "model.embed_size=8",
                 "train.epochs=12", "train.batch_size=16", "train.lr=0.01", "train.progress=false"]
    config = tmp / "logs.toml"
    config.write_text('task = "log_anomaly"\n')
    assert main(["train", str(config), *overrides[1:], "--quiet"]) == 0
    return tmp, tmp / "run" / "bundle"


def test_a_verdict_per_session(bundle, capsys):
    tmp, b = bundle
    (tmp / "mine.txt").write_text("1 2 3 4 6\nblk_7,1 2 3 9 6\n1 2 6\n")
    assert main(["detect", str(b), str(tmp / "mine.txt")]) == 0
    out = capsys.readouterr()
    rows = [line.split("\t") for line in out.out.strip().splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("1", "normal"), ("blk_7", "abnormal"), ("3", "abnormal")]
    assert float(rows[1][2]) > float(rows[0][2])  # the unknown event makes the score high
    assert "2 of 3 sessions abnormal" in out.err


def test_json_gives_each_event_rank_and_surprise(bundle, capsys):
    tmp, b = bundle
    (tmp / "one.txt").write_text("s1,1 2 3 9 6\n")
    assert main(["detect", str(b), "--json", str(tmp / "one.txt"), str(tmp / "one.txt")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2  # two files, one session each
    obj = json.loads(lines[0])
    assert obj["session"] == "s1" and obj["verdict"] == "abnormal" and obj["line"] == 1
    assert [e["event"] for e in obj["events"]] == ["1", "2", "3", "9", "6"]
    assert obj["events"][3]["unknown"] and obj["events"][3]["rank"] > 2
    assert obj["events"][0]["rank"] == 1 and obj["events"][0]["surprise"] < 0.5
    assert set(obj["end"]) == {"rank", "surprise"}


def test_top_g_overrides_the_bundle(bundle, capsys):
    tmp, b = bundle
    (tmp / "ok.txt").write_text("1 2 3 4 3 5 6\n")
    assert main(["detect", str(b), str(tmp / "ok.txt"), "--top-g", "1"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "abnormal"  # 4 or 5 after 3: one of them is the 2nd guess
    assert main(["detect", str(b), str(tmp / "ok.txt"), "--top-g", "2"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "normal"


@pytest.mark.parametrize("text, words", [("1 2\n1 x 3\n", ":2: event id 'x' is not an integer"),
                                         ("1 2\n\n", ":2: empty session")])
def test_file_errors_are_one_line(bundle, capsys, text, words):
    tmp, b = bundle
    (tmp / "bad.txt").write_text(text)
    assert main(["detect", str(b), str(tmp / "bad.txt")]) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_refuses_a_bundle_of_another_task(tmp_path, capsys):
    paths = write_tiny_data(tmp_path / "data")
    config = tmp_path / "intent.toml"
    config.write_text('task = "intent"\n')
    assert main(["train", str(config), *tiny_overrides(paths, tmp_path / "run", epochs=1)[1:], "--quiet"]) == 0
    (tmp_path / "s.txt").write_text("1 2\n")
    assert main(["detect", str(tmp_path / "run" / "bundle"), str(tmp_path / "s.txt")]) == 1
    err = capsys.readouterr().err
    assert "is not a log anomaly model" in err and len(err.strip().splitlines()) == 1


def test_bad_top_g(bundle, capsys):
    tmp, b = bundle
    assert main(["detect", str(b), str(tmp / "train.txt"), "--top-g", "0"]) == 1
    assert "--top-g: must be >= 1" in capsys.readouterr().err


def test_detect_is_a_formatter_over_predict(bundle, capsys):
    """The verb and `rnnlab predict FILE --option top_g=G` read the file with the same reader and reach the same
    verdicts and scores: the verb only formats."""
    tmp, b = bundle
    (tmp / "both.txt").write_text("1 2 3 4 3 5 6\nblk,1 2 3 9 6\n")
    assert main(["detect", str(b), "--json", "--top-g", "1", str(tmp / "both.txt")]) == 0
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(b), "--json", "--option", "top_g=1", str(tmp / "both.txt")]) == 0
    preds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [v["verdict"] for v in verdicts] == [p["answer"]["label"] for p in preds] == ["abnormal", "abnormal"]
    assert [v["score"] for v in verdicts] == [p["scores"]["max_surprise"] for p in preds]
    assert [[e["rank"] for e in v["events"]] for v in verdicts] == [[s["rank"] for s in p["steps"]] for p in preds]
    assert all("ranking" in s for p in preds for s in p["steps"])  # predict keeps the guesses; detect leaves them out
