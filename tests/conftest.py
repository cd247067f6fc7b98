"""Fixtures shared across the test tree, among them tiny language models trained once per test session
(a few seconds each, only when a test asks for them):

- a character LM on a short repeated text (generate tests);
- forward and backward word LMs on a toy corpus where the blank in "the ___ drinks milk" is decided
  only by the words AFTER it (cat drinks milk, dog chews bones): left context alone gives ~50/50.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

from rnnlab.config import load_config
from rnnlab.training import train


def pytest_addoption(parser):
    parser.addoption("--precision", choices=["auto", "fp32", "bf16"], default=None,
                     help="what train.precision=auto means in every run of the suite (sets RNNLAB_PRECISION, which "
                          "subprocesses inherit): run the suite once per precision the CPU supports "
                          "(`make test-precisions`) so that a bf16-only difference shows on a bf16 machine")


def pytest_configure(config):
    import tempfile

    from rnnlab import precision

    # the image feature cache (rnnlab.vision.features) of every run of the suite, subprocesses included: a fresh
    # folder, never the user's ~/.cache/rnnlab
    os.environ.setdefault("RNNLAB_CACHE", tempfile.mkdtemp(prefix="rnnlab-test-cache-"))

    asked = config.getoption("--precision")
    if asked:
        if asked == "bf16" and not precision.cpu_native_bf16():
            raise pytest.UsageError(f"--precision bf16: this CPU ({precision.cpu_model()}, "
                                    f"{precision.cpu_capability()}) has no native bf16")
        os.environ[precision.ENV] = asked


def pytest_report_header(config):
    from rnnlab import precision

    auto = precision.resolve("auto")
    return [f"cpu: {precision.cpu_model()} ({precision.cpu_capability()}, native bf16: "
            f"{precision.cpu_native_bf16()}); train.precision=auto runs in {auto}"]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy 2-core machine OpenMP barriers stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

CHAR_TEXT = ("ROMEO: But soft, what light through yonder window breaks?\n"
             "JULIET: O Romeo, Romeo, wherefore art thou Romeo?\n") * 40

TOY_SENTENCES = ["the cat drinks milk", "the dog chews bones", "a cat drinks water", "a dog chews sticks"]


def toy_corpus(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(TOY_SENTENCES) + "\n" for _ in range(n))


def _train(overrides: list[str]) -> Path:
    torch.set_num_threads(1)
    cfg = load_config(None, overrides + ["train.progress=false"])
    train(cfg, overwrite=True, echo=None)
    return Path(cfg.run_dir) / "bundle"


@pytest.fixture(scope="session")
def char_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("charlm")
    (root / "input.txt").write_text(CHAR_TEXT)
    return _train(["task=charlm", f"run_dir={root / 'run'}", f"data.text={root / 'input.txt'}", "data.bptt=16",
                   "model.embed_size=16", "model.hidden_size=48", "model.num_layers=1", "model.dropout=0.0",
                   "train.epochs=8", "train.batch_size=8", "train.eval_batch_size=4", "train.lr=0.01", "train.seed=3"])


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    for i, split in enumerate(("train", "valid", "test")):
        (root / f"{split}.txt").write_text(toy_corpus(400 if split == "train" else 40, seed=i))
    return root


def _word_overrides(data: Path, run_dir: Path, reverse: bool) -> list[str]:
    return ["task=wordlm", f"run_dir={run_dir}", f"data.train={data / 'train.txt'}",
            f"data.valid={data / 'valid.txt'}", f"data.test={data / 'test.txt'}", "data.bptt=10",
            f"data.reverse={str(reverse).lower()}", "model.embed_size=24", "model.hidden_size=24",
            "model.num_layers=1", "model.dropout=0.0", "model.tie_weights=true", "train.epochs=6",
            "train.batch_size=8", "train.eval_batch_size=4", "train.lr=0.02", "train.seed=0"]


@pytest.fixture(scope="session")
def fill_dir(tmp_path_factory, toy_data) -> Path:
    """A fill directory: forward/ and backward/ word-LM bundles trained on the toy corpus."""
    root = tmp_path_factory.mktemp("fill")
    for name, reverse in (("forward", False), ("backward", True)):
        bundle = _train(_word_overrides(toy_data, root / f"run-{name}", reverse))
        bundle.rename(root / name)
    return root
