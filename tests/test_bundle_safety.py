"""Bundles from someone else: links out of the bundle, files that are not files, weights that are not
numbers. Each is refused with one BundleError naming the file, before anything is read from it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import rnnlab
from rnnlab.bundle import load, save_bundle
from rnnlab.cli import main as cli_main
from rnnlab.config import load_config
from rnnlab.errors import BundleError
from rnnlab.training import prepare_task
from tiny_intent import tiny_overrides, write_tiny_data

try:
    import resource  # POSIX only: the /dev/zero test limits its child's memory with it
except ImportError:
    resource = None


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """An untrained tiny intent bundle: what is checked here is the loader, not the answers."""
    tmp = tmp_path_factory.mktemp("safety")
    cfg = load_config(None, tiny_overrides(write_tiny_data(tmp / "data"), tmp / "run"))
    task, _features = prepare_task(cfg)
    return save_bundle(tmp / "run" / "bundle", task, task.build_model(), cfg, metrics={})


@pytest.fixture
def copy(bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(bundle, dst)
    return dst


def rehash(folder, name, data=None):
    """Record `name`'s current bytes (or `data`) in config.json, as a forger who rewrites the manifest would."""
    cfg = json.loads((folder / "config.json").read_text())
    cfg["files"][name] = hashlib.sha256(data if data is not None else (folder / name).read_bytes()).hexdigest()
    (folder / "config.json").write_text(json.dumps(cfg))


def load_within(path, seconds=20):
    """load(path), failing (not hanging) if it does not return in time: opening a FIFO blocks."""
    result = {}

    def target():
        try:
            result["value"] = load(path)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load({path}) did not return within {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


# ---------------------------------------------------------------- links and non-files


def test_hashed_link_out_of_the_bundle_is_refused(copy, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (copy / "README.md").unlink()
    (copy / "README.md").symlink_to(secret)
    rehash(copy, "README.md")  # the checksum matches: only the link gives it away
    with pytest.raises(BundleError, match=r"README.md: a link to .*secret.txt, outside the bundle"):
        load(copy)


@pytest.mark.skipif(resource is None or not os.path.exists("/dev/zero"), reason="needs /dev/zero and rlimits")
def test_link_to_dev_zero_is_refused_at_once(copy):
    (copy / "model.safetensors").unlink()
    (copy / "model.safetensors").symlink_to("/dev/zero")
    # in a child with 3 GiB of address space: a loader that read the link would fill the machine's
    # memory, not just fail this test
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "from rnnlab.cli import main; sys.exit(main(['predict', sys.argv[1], 'what time is it']))")
    r = subprocess.run([sys.executable, "-c", code, str(copy)], capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stderr) == (1, f"rnnlab predict: error: {copy / 'model.safetensors'}: a link to "
                                           "/dev/zero, outside the bundle; a bundle's files must be in its directory\n")


def test_relative_link_climbing_out_is_refused(copy):
    (copy.parent / "vocab.json").write_bytes((copy / "vocab.words.json").read_bytes())
    (copy / "vocab.words.json").unlink()
    (copy / "vocab.words.json").symlink_to("../vocab.json")
    with pytest.raises(BundleError, match=r"vocab.words.json: a link to .*outside the bundle"):
        load(copy)


def test_link_inside_the_bundle_is_fine(copy):
    (copy / "kept").mkdir()
    (copy / "README.md").rename(copy / "kept" / "README.md")
    (copy / "README.md").symlink_to("kept/README.md")
    assert load(copy).card.startswith("# rnnlab model: intent")


def test_config_json_link_out_is_refused(copy, tmp_path):
    outside = tmp_path / "config.json"
    outside.write_bytes((copy / "config.json").read_bytes())
    (copy / "config.json").unlink()
    (copy / "config.json").symlink_to(outside)
    with pytest.raises(BundleError, match=r"config.json: a link to .* outside the bundle"):
        load(copy)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_is_refused_not_waited_on(copy):
    (copy / "README.md").unlink()
    os.mkfifo(copy / "README.md")
    with pytest.raises(BundleError, match=r"README.md: not a regular file \(a FIFO\)"):
        load_within(copy)


def test_directory_as_a_listed_file(copy):
    (copy / "metrics.json").unlink()
    (copy / "metrics.json").mkdir()
    with pytest.raises(BundleError, match=r"metrics.json: not a regular file \(a directory\)"):
        load(copy)


def test_directory_as_config_json_is_one_line(copy, capsys):
    (copy / "config.json").unlink()
    (copy / "config.json").mkdir()
    with pytest.raises(BundleError, match=r"config.json: not a regular file \(a directory\); a bundle holds only "
                                          r"plain files$"):
        load(copy)
    assert cli_main(["predict", str(copy), "what time is it"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json: not a regular file (a directory)" in err


def test_dangling_link_is_missing(copy):
    (copy / "vocab.intents.json").unlink()
    (copy / "vocab.intents.json").symlink_to(copy / "gone.json")
    with pytest.raises(BundleError, match=r"vocab.intents.json: missing"):
        load(copy)


@pytest.mark.parametrize("name", ["", "a\0b", "../config.json", "sub/x.json"])
def test_bad_names_in_the_manifest(copy, name):
    cfg = json.loads((copy / "config.json").read_text())
    cfg["files"][name] = "0" * 64
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match=r"config.json: invalid file name"):
        load(copy)


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(copy, bad):
    weights = st_load((copy / "model.safetensors").read_bytes())
    name = "encoder.weight_hh_l0" if "encoder.weight_hh_l0" in weights else sorted(weights)[0]
    weights[name].view(-1)[3] = bad
    data = st_save(weights, metadata={"format": "rnnlab.bundle/1"})
    (copy / "model.safetensors").write_bytes(data)
    rehash(copy, "model.safetensors")  # as saved by a run that diverged: the checksum is right
    with pytest.raises(BundleError, match=rf"model.safetensors: non-finite weights \(NaN or inf\) in {name}"):
        load(copy)


def test_finite_weights_load(bundle):
    predictor = load(bundle)
    assert all(torch.isfinite(p).all() for p in predictor.model.state_dict().values() if p.is_floating_point())


# ---------------------------------------------------------------- predicting nothing


def test_predict_nothing_is_nothing(bundle, monkeypatch):
    predictor = rnnlab.load(bundle)
    assert predictor.predict([]) == []
    assert predictor.predict(iter([])) == []
    assert [r["tokens"] for r in predictor.predict(["what time is it"])] == [["what", "time", "is", "it"]]

    # whatever a task does with an empty batch (collate would stack nothing), it is not asked to
    def empty_batch(model, inputs):
        assert inputs, "the task was called with no inputs"
        return [{"text": t} for t in inputs]

    monkeypatch.setattr(predictor.task, "predict", empty_batch)
    assert predictor.predict([]) == [] and predictor.predict(()) == []
