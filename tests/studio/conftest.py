"""Bundles the studio tests serve: a tiny trained LSTM intent model (a few seconds on one core), an
untrained GRU one (its gates are what matters there, not its answers), an untrained character language
model, a tiny trained intent + slots tagger (a tag per word, slots as spans) and tiny trained speech (CTC)
and spoken_word bundles on tone 'speech'."""
from __future__ import annotations

from pathlib import Path

import pytest

import rnnlab
from rnnlab.bundle import save_bundle
from rnnlab.config import config_from_dict
from rnnlab.training import prepare_task, train

TINY_MODEL = {"embed_size": 16, "hidden_size": 24, "dropout": 0.0}


@pytest.fixture(scope="session")
def intent_bundle(tmp_path_factory):
    """A trained LSTM intent bundle on the shipped demo data: small, but it gets "what time is it" right."""
    run_dir = tmp_path_factory.mktemp("studio") / "intent-lstm"
    cfg = config_from_dict({"task": "intent", "run_dir": str(run_dir), "data": {},
                            "model": {**TINY_MODEL, "cell": "lstm"},
                            "train": {"epochs": 12, "batch_size": 32, "lr": 0.01, "seed": 0,
                                      "progress": False}})
    train(cfg, echo=None, command="tests/studio/conftest.py")
    return run_dir / "bundle"


@pytest.fixture(scope="session")
def gru_bundle(tmp_path_factory):
    """An untrained GRU intent bundle (vocabularies fitted, weights at their initialisation)."""
    run_dir = tmp_path_factory.mktemp("studio") / "intent-gru"
    cfg = config_from_dict({"task": "intent", "run_dir": str(run_dir), "data": {},
                            "model": {**TINY_MODEL, "cell": "gru"}, "train": {"seed": 0}})
    task, _features = prepare_task(cfg)
    return save_bundle(run_dir / "bundle", task, task.build_model(), cfg, metrics={})


@pytest.fixture(scope="session")
def intent_predictor(intent_bundle):
    return rnnlab.load(intent_bundle)


@pytest.fixture(scope="session")
def charlm_bundle(tmp_path_factory):
    """An untrained 2-layer character language model (LSTM): the page must draw any task's trace."""
    root = tmp_path_factory.mktemp("studio")
    text = root / "text.txt"
    text.write_text("what time is it?\nit is time to read what the network remembers.\n" * 20)
    cfg = config_from_dict({"task": "charlm", "run_dir": str(root / "charlm"),
                            "data": {"text": str(text), "bptt": 16},
                            "model": {"cell": "lstm", "embed_size": 8, "hidden_size": 12, "num_layers": 2,
                                      "dropout": 0.0}, "train": {"seed": 0}})
    task, _features = prepare_task(cfg)
    return save_bundle(root / "charlm" / "bundle", task, task.build_model(), cfg, metrics={})


@pytest.fixture(scope="session")
def slots_bundle(tmp_path_factory):
    """A trained 1-layer BiLSTM+CRF intent + slots bundle on the tests' tiny CSV (a few seconds on one core):
    it tags "play some adele on spotify" with an artist and a service."""
    tiny = str(Path(__file__).resolve().parents[1] / "data" / "slots_tiny.csv")
    run_dir = tmp_path_factory.mktemp("studio") / "slots-lstm"
    cfg = config_from_dict({"task": "intent_slots", "run_dir": str(run_dir),
                            "data": {"train": tiny, "valid": tiny, "test": tiny},
                            "model": {"cell": "lstm", "embed_size": 16, "char_dim": 8, "char_filters": 16,
                                      "hidden_size": 24, "num_layers": 1, "crf": True, "dropout": 0.0,
                                      "word_dropout": 0.1},
                            "train": {"epochs": 15, "batch_size": 8, "lr": 0.02, "seed": 0, "warmup_steps": 0,
                                      "clip_norm": 5.0, "progress": False}})
    train(cfg, echo=None, command="tests/studio/conftest.py")
    return run_dir / "bundle"


TRANSLATE_WORDS = "red blue cat dog runs sees big small the a".split()


def translate_pairs(n: int = 40) -> list[tuple[str, str]]:
    """A toy language: lowercase words -> the same words upper-cased, in reverse order."""
    import random

    rng = random.Random(0)
    pairs = []
    for _ in range(n):
        words = rng.sample(TRANSLATE_WORDS, rng.randint(2, 4))
        pairs.append((" ".join(words), " ".join(w.upper() for w in reversed(words))))
    return pairs


@pytest.fixture(scope="session")
def translate_bundle(tmp_path_factory):
    """A tiny trained GRU translation bundle (word tokens, a few seconds on one core): it translates the
    training pairs of the toy language exactly, e.g. "big red runs" -> "RUNS RED BIG"."""
    root = tmp_path_factory.mktemp("studio")
    pairs = translate_pairs()
    (root / "train.src").write_text("".join(s + "\n" for s, _ in pairs))
    (root / "train.tgt").write_text("".join(t + "\n" for _, t in pairs))
    cfg = config_from_dict({"task": "translate", "run_dir": str(root / "translate"),
                            "data": {"train_source": str(root / "train.src"), "train_target": str(root / "train.tgt"),
                                     "tokenizer": "word", "source_vocab_size": 100, "target_vocab_size": 100},
                            "model": {"cell": "gru", "embed_size": 32, "hidden_size": 32, "dropout": 0.0,
                                      "beam": 3},
                            "train": {"epochs": 30, "batch_size": 8, "lr": 0.01, "seed": 0, "warmup_steps": 0,
                                      "progress": False}})
    train(cfg, echo=None, command="tests/studio/conftest.py")
    return root / "translate" / "bundle"


def _speech(tmp_path_factory, task: str):
    import torch

    from tiny_speech import speech_config, write_speech_data

    root = tmp_path_factory.mktemp(f"studio-{task}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        paths = write_speech_data(root / "data", sentences=task == "speech")
        train(speech_config(paths, root / "run", task=task), echo=None, command="tests/studio/conftest.py")
    finally:
        torch.set_num_threads(threads)
    return root / "data", root / "run" / "bundle"


@pytest.fixture(scope="session")
def speech_data(tmp_path_factory):
    """A tiny trained CTC speech bundle on tone 'speech' (tests/tiny_speech.py, ~10 s on one core): (data, bundle);
    data/wavs/test_*.wav are recordings it did not train on, data/test.tsv their transcripts."""
    return _speech(tmp_path_factory, "speech")


@pytest.fixture(scope="session")
def word_data(tmp_path_factory):
    """A tiny trained spoken_word classifier (one tone per recording: a, b or c): (data, bundle)."""
    return _speech(tmp_path_factory, "spoken_word")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per browser-test module (tests/studio/browsing.py). Not one per session: Playwright's
    sync API keeps an event loop running while it is open, and the tests that call asyncio.run (test_hardening)
    must not run inside it."""
    from browsing import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
