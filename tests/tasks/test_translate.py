"""The translation task (issue #15) end to end on a toy "language": lowercase words -> the same words in
upper case, in reverse order. A tiny model learns the 40 training pairs exactly in a few seconds (1 thread);
then greedy and beam search, the bundle, the `rnnlab translate` verb and the readers' errors through
`rnnlab train --dry-run` are checked on it."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.config import config_from_dict
from rnnlab.decoding.search import beam_search, greedy
from rnnlab.decoding.seq2seq import length_limits, strip_eos
from rnnlab.errors import UserError
from rnnlab.tasks.base import check_prediction
from rnnlab.training import prepare_task, train
from same_predictions import assert_same_predictions
from tiny_translate import toy_config, toy_pairs, write_pairs


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("translate")
    summary = train(config_from_dict(toy_config(folder)), echo=None, command="tests/tasks/test_translate.py")
    assert summary["valid"]["bleu"] > 99 and summary["valid"]["chrf"] > 99
    return folder / "run" / "bundle"


@pytest.fixture(scope="module")
def predictor(bundle):
    return rnnlab.load(bundle)


def test_learns_the_toy_language_exactly_by_greedy_and_beam(predictor):
    pairs = toy_pairs()
    sources = [s for s, _ in pairs]
    task, model = predictor.task, predictor.model
    for beam in (1, 3):
        predictions = task.translate(model, sources, beam=beam)
        assert [p["answer"]["label"] for p in predictions] == [t for _, t in pairs], f"beam {beam}"
    p = predictor.predict(["a dog cat"])[0]
    check_prediction(p)
    assert p["answer"]["label"] == "CAT DOG A" and p["sequence"] == ["CAT", "DOG", "A"]
    assert p["tokens"] == ["a", "dog", "cat"]
    assert p["answer_kind"] == "translation" and 0.5 < p["answer"]["probability"] <= 1.0
    assert p["scores"]["log_prob"] < 0


def test_beam_one_is_greedy_through_the_task(predictor):
    task, model = predictor.task, predictor.model
    sources = [s for s, _ in toy_pairs(20, seed=1)] + ["zebra red", "a a a a a a"]  # unseen pairs too
    batch = task.collate([{"src": task.source.ids(s)} for s in sources])
    with torch.no_grad():
        state, memory, sizes = model.start({"source": batch["source"], "source_lengths": batch["source_lengths"]})
        assert sizes.tolist() == batch["source_lengths"].tolist()
        cfg = task.model_config
        limits = length_limits(sizes, cfg.max_len_a, cfg.max_len_b)
        g = greedy(model.decoder.step, state, memory, task.target.bos_id, task.target.eos_id, limits)
        b = beam_search(model.decoder.step, state, memory, task.target.bos_id, task.target.eos_id, 1, limits)
    assert [h.tokens for h in g] == [h.tokens for h in b]
    assert [h.score for h in g] == pytest.approx([h.score for h in b], abs=1e-5)
    via_task = task.translate(model, sources, beam=1)
    texts = [task.target.decode(task.target.pieces(strip_eos(h.tokens, task.target.eos_id))) for h in g]
    assert texts == [p["answer"]["label"] for p in via_task]


def test_unknown_words_never_raise_and_empty_input_does(predictor):
    p = predictor.predict(["zebra red"])[0]
    check_prediction(p)
    assert p["unknown"] == [True, False]
    for bad in ("", "   "):
        with pytest.raises(UserError, match="nothing to translate"):
            predictor.predict([bad])


def test_trace_has_the_attention_matrix_and_the_encoder_states(predictor):
    trace = predictor.trace("big red runs")
    check_prediction({k: v for k, v in trace.items() if k not in ("cell", "layers")})
    assert trace["target_tokens"] == ["RUNS", "RED", "BIG", "</s>"]
    attention = torch.tensor(trace["attention"])
    assert attention.shape == (4, 3)
    assert torch.allclose(attention.sum(1), torch.ones(4), atol=1e-4)
    # reversing the words: the first output piece looks at the last source word, the last at the first
    assert attention[:3].argmax(1).tolist() == [2, 1, 0]
    assert trace["cell"] == "gru"
    directions = sorted((layer["layer"], layer["direction"]) for layer in trace["layers"])
    assert directions == [(0, "backward"), (0, "forward")]
    assert all(len(layer["h"]) == 3 and len(layer["h"][0]) == 32 for layer in trace["layers"])


def test_alternatives_are_what_the_search_scored(predictor):
    """Per output piece, the top pieces at that step, best first. Under greedy decoding the chosen piece is the
    first alternative at every step, and the log-probabilities of the chosen pieces sum to the hypothesis's
    score: the teacher-forced pass repeats the search's own computation."""
    import math

    task, model = predictor.task, predictor.model
    (greedy_out,) = task.translate(model, ["small big runs dog"], beam=1, attention=True)
    alts, targets = greedy_out["alternatives"], greedy_out["target_tokens"]
    assert len(alts) == len(targets) == 5 and all(len(row) == 5 for row in alts)
    assert [row[0]["label"] for row in alts] == targets == ["DOG", "RUNS", "BIG", "SMALL", "</s>"]
    for row in alts:
        probs = [a["probability"] for a in row]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-5
    chosen = sum(math.log(row[0]["probability"]) for row in alts)
    assert chosen == pytest.approx(greedy_out["scores"]["log_prob"], abs=1e-4)
    (beamed,) = task.translate(model, ["small big runs dog"], beam=3, attention=True)
    check_prediction(beamed)
    assert len(beamed["alternatives"]) == len(beamed["target_tokens"])
    assert "alternatives" not in task.translate(model, ["small big runs dog"])[0]  # predict stays lean


def test_bundle_round_trips(bundle, predictor):
    again = rnnlab.load(bundle)
    texts = ["a dog cat", "small big runs dog", "zebra"]
    assert again.predict(texts) == predictor.predict(texts)
    assert again.trace("a dog cat")["attention"] == predictor.trace("a dog cat")["attention"]
    names = sorted(p.name for p in bundle.iterdir())
    assert "tokenizer.source.json" in names and "tokenizer.target.json" in names


def test_translate_cli_texts_json_and_stdin(bundle, capsys, monkeypatch):
    assert main(["translate", str(bundle), "a dog cat", "small big runs dog"]) == 0
    assert capsys.readouterr().out == "CAT DOG A\nDOG RUNS BIG SMALL\n"
    assert main(["translate", str(bundle), "--beam", "1", "--json", "a dog cat"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"]["label"] == "CAT DOG A" and out["tokens"] == ["a", "dog", "cat"]
    assert out["target_tokens"] == ["CAT", "DOG", "A", "</s>"]
    assert len(out["attention"]) == 4 and all(len(row) == 3 for row in out["attention"])
    assert "log_prob" in out["scores"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a dog cat\n\nbig red runs\n"))
    assert main(["translate", str(bundle)]) == 0
    assert capsys.readouterr().out == "CAT DOG A\n\nRUNS RED BIG\n"  # an empty line stays one


def test_translate_cli_one_line_errors(bundle, tmp_path, capsys):
    assert main(["translate", str(bundle), "--beam", "0", "red"]) == 1
    assert "--beam: must be >= 1" in capsys.readouterr().err
    # a bundle of another task
    cfg = config_from_dict({"task": "intent", "run_dir": str(tmp_path / "intent"), "data": {},
                            "model": {"embed_size": 8, "hidden_size": 4, "dropout": 0.0}, "train": {"seed": 0}})
    task, _ = prepare_task(cfg)
    from rnnlab.bundle import save_bundle

    other = save_bundle(tmp_path / "intent" / "bundle", task, task.build_model(), cfg, metrics={})
    assert main(["translate", str(other), "hello"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a translation model" in err and "'intent'" in err


def _toml(path: Path, data: dict) -> Path:
    lines = ['task = "translate"', f'run_dir = "{path.parent / "run"}"', "[data]"]
    lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in data.items()]
    lines += ["[model]", "hidden_size = 8", "embed_size = 8", "dropout = 0.0"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_errors_name_file_and_line_in_a_dry_run(tmp_path, capsys):
    files = write_pairs(tmp_path, toy_pairs(10))
    ok = _toml(tmp_path / "ok.toml", {"train_source": files["source"], "train_target": files["target"],
                                      "tokenizer": "word"})
    assert main(["train", str(ok), "--dry-run"]) == 0
    assert "dry run ok" in capsys.readouterr().out
    # one target line fewer: named at the first line the target lacks
    lines = Path(files["target"]).read_text().splitlines()
    short = tmp_path / "short.tgt"
    short.write_text("\n".join(lines[:-1]) + "\n")
    assert main(["train", str(ok), f"data.train_target={short}", "--dry-run"]) == 1
    assert f"{short}:10: " in capsys.readouterr().err
    # an empty source line
    src = tmp_path / "empty.src"
    src.write_text("red cat\n\nblue dog\n" + "a b\n" * 7)
    assert main(["train", str(ok), f"data.train_source={src}", "--dry-run"]) == 1
    assert f"{src}:2: empty source line" in capsys.readouterr().err
    # a JSONL split with a bad line
    bad = tmp_path / "valid.jsonl"
    bad.write_text('{"source": "red", "target": "RED"}\n{"source": "cat"}\n')
    assert main(["train", str(ok), f"data.valid={bad}", "--dry-run"]) == 1
    assert f"{bad}:2: missing key(s) target" in capsys.readouterr().err
    # config mistakes: one line naming the key
    assert main(["train", str(ok), "data.train_target=", "--dry-run"]) == 1
    assert "data.train_target is missing" in capsys.readouterr().err
    assert main(["train", str(ok), "model.attention=luong", "--dry-run"]) == 1
    assert "model.attention must be one of" in capsys.readouterr().err


def test_tsv_and_jsonl_splits(tmp_path):
    pairs = toy_pairs(12)
    (tmp_path / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    (tmp_path / "valid.jsonl").write_text("".join(json.dumps({"source": s, "target": t}) + "\n" for s, t in pairs))
    cfg = config_from_dict({"task": "translate", "run_dir": str(tmp_path / "run"),
                            "data": {"train": str(tmp_path / "train.tsv"), "valid": str(tmp_path / "valid.jsonl"),
                                     "tokenizer": "word", "max_len": 3},
                            "model": {"hidden_size": 4, "embed_size": 8, "dropout": 0.0}})
    task, feats = prepare_task(cfg)
    assert task.splits() == ["train", "valid"] and len(feats["train"]) == len(feats["valid"]) == 12
    # max_len leaves the long pairs out of training batches only
    trained = sorted(i for b in task.batches(feats["train"], 4, shuffle=True) for i in b)
    assert trained == [i for i, f in enumerate(feats["train"]) if len(f["src"]) <= 3 and len(f["tgt"]) <= 3]
    assert sorted(i for b in task.batches(feats["valid"], 4, shuffle=False) for i in b) == list(range(12))


# ---- an export (rnnlab export BUNDLE OUT) translates as its bundle does -------------------------------------------

def _export(bundle: Path, folder: Path) -> Path:
    from rnnlab.export import export_bundle

    export_bundle(bundle, folder / "export")
    return folder / "export"


@pytest.fixture(scope="module")
def exported(bundle, tmp_path_factory):
    return _export(bundle, tmp_path_factory.mktemp("translate_export"))


@pytest.fixture(scope="module")
def undertrained(tmp_path_factory):
    """An LSTM (h and c), two layers, additive attention (the memory's key projection travels with it), trained
    for 15 epochs (of 30): unsure enough that beam 4 and greedy part ways, exported."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("translate_lstm")
    cfg = toy_config(folder, cell="lstm", num_layers=2, attention="additive", hidden_size=16, embed_size=16)
    cfg["train"]["epochs"] = 15
    train(config_from_dict(cfg), echo=None, command="tests/tasks/test_translate.py")
    bundle = folder / "run" / "bundle"
    return bundle, _export(bundle, folder)


SOURCES = [s for s, _ in toy_pairs(12, seed=2)] + ["zebra red", "a a a a a a", "big", "the cat sees the dog runs"]


@pytest.mark.parametrize("model", ["gru", "lstm_additive"])
def test_an_export_translates_as_its_bundle_greedy_and_beam(model, bundle, exported, undertrained):
    """`predict` on the bundle (PyTorch) and on its export (onnxruntime's graphs through the same search), beam 1
    and 4, with and without the attention matrix and the alternatives; then with a length penalty and a max
    length that cuts outputs short. The same code on the PyTorch graphs (runtime.torch_graphs) too."""
    import dataclasses

    from rnnlab.runtime import load_predictor, torch_graphs

    if model != "gru":
        bundle, exported = undertrained
    want_predictor, served = rnnlab.load(bundle), load_predictor(exported)
    assert served.runtime == "onnx" and served.task.name == "translate"
    task, graphs = want_predictor.task, torch_graphs(want_predictor.task, want_predictor.model)
    cfg = task.model_config
    for config in (cfg, dataclasses.replace(cfg, length_penalty=1.0, max_len_a=0.5, max_len_b=1)):
        want_predictor.task.model_config = served.task.model_config = config
        for beam in (1, 4):
            for attention in (False, True):
                want = want_predictor.predict(SOURCES, beam=beam, attention=attention)
                got = served.predict(SOURCES, beam=beam, attention=attention)
                assert_same_predictions(got, want, 1e-4, f"beam {beam} attention {attention}")
                assert_same_predictions(task.predict_graphs(graphs, SOURCES, beam=beam, attention=attention), want,
                                        tolerance=1e-4)
                if attention:
                    assert all(len(p["alternatives"]) == len(p["target_tokens"]) for p in got)
        if config is not cfg:  # the limit cut some outputs short: they end without </s>
            assert any(p["target_tokens"][-1] != "</s>" for p in got)
    if model != "gru":  # an unsure model: beam search found something greedy did not
        greedy = [p["answer"]["label"] for p in served.predict(SOURCES, beam=1)]
        assert greedy != [p["answer"]["label"] for p in served.predict(SOURCES, beam=4)]
    # the options are checked as for the bundle
    with pytest.raises(UserError, match="wider than this model's target vocabulary"):
        served.predict(SOURCES[:1], beam=1000)
    with pytest.raises(UserError, match="nothing to translate"):
        served.predict(["   "])


def test_translate_and_predict_cli_on_an_export(bundle, exported, capsys):
    """`rnnlab translate EXPORT_DIR --beam 4` prints the bundle's translations; --json their pieces, attention and
    alternatives; `rnnlab predict EXPORT_DIR --option beam=4` as `rnnlab predict BUNDLE`."""
    texts = ["a dog cat", "small big runs dog", "zebra red"]
    for args in (["--beam", "4"], ["--beam", "1"], []):
        assert main(["translate", str(bundle), *args, *texts]) == 0
        want = capsys.readouterr().out
        assert want.startswith("CAT DOG A\nDOG RUNS BIG SMALL\n")
        assert main(["translate", str(exported), *args, *texts]) == 0
        assert capsys.readouterr().out == want, args
    assert main(["translate", str(exported), "--beam", "4", "--runtime", "onnx", "--json", *texts]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["translate", str(bundle), "--beam", "4", "--json", *texts]) == 0
    assert_same_predictions(got, [json.loads(line) for line in capsys.readouterr().out.splitlines()], tolerance=1e-4)
    assert got[0]["target_tokens"] == ["CAT", "DOG", "A", "</s>"] and len(got[0]["alternatives"]) == 4
    assert main(["predict", str(bundle), "--option", "beam=4", "--json", *texts]) == 0
    want = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(exported), "--option", "beam=4", "--json", *texts]) == 0
    assert_same_predictions([json.loads(line) for line in capsys.readouterr().out.splitlines()], want, tolerance=1e-4)
    assert [p["answer"]["label"] for p in want[:2]] == ["CAT DOG A", "DOG RUNS BIG SMALL"]


def test_subword_vocabulary_is_sized_for_a_small_set(tmp_path):
    """The shipped 8,000 / 6,000 pieces cannot be learned from a few hundred pairs: at most 2 pieces a training
    pair (Multi30k's 29,000 keep the config's), and at most what sentencepiece can make; the size learned is
    written back to the config (so the run's config.json records it)."""
    from rnnlab.tasks.translate import subword_vocab_size

    assert subword_vocab_size(8000, 300) == 600
    assert subword_vocab_size(6000, 29000) == 6000
    assert subword_vocab_size(30, 40) == 30
    cfg = config_from_dict(toy_config(tmp_path))
    cfg.data.tokenizer, cfg.data.source_vocab_size, cfg.data.target_vocab_size = "subword", 8000, 6000
    task, _ = prepare_task(cfg)  # 40 toy pairs: 80 asked, fewer possible: as many as sentencepiece can make
    assert 5 <= len(task.source) <= 80 and 5 <= len(task.target) <= 80
    assert (cfg.data.source_vocab_size, cfg.data.target_vocab_size) == (len(task.source), len(task.target))
