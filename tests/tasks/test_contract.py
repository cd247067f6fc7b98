"""The task contract, checked for every registered task and every shipped config.

For each: the config loads, the model builds, one loss step runs (finite loss, gradients reach the
parameters), the fitted state round-trips through JSON, predict's output follows the prediction schema
(rnnlab.tasks.base.Prediction) and a bundle round-trips (same predictions after loading). A new task gets
all of this by adding its toy data to TOY_DATA (a test fails until it does).
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab.bundle import save_bundle
from rnnlab.config import load_config
from rnnlab.engines import ENGINES
from rnnlab.layers import Recurrent
from rnnlab.modules.encoder_decoder import Encoder, EncoderDecoder
from rnnlab.tasks import TASKS
from rnnlab.tasks.base import INPUT_KINDS, check_prediction
from rnnlab.training import prepare_task, seed_everything
from rnnlab.training.loop import calibrate

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
WORDS = ["what", "time", "is", "it", "play", "some", "jazz", "will", "rain", "today", "the", "cat", "dog"]


def _intent(folder: Path) -> list[str]:
    rows = [{"text": " ".join(random.Random(i).sample(WORDS, 4)), "intent": f"i{i % 3}"} for i in range(30)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [f"data.train={folder / 'train.jsonl'}", f"data.test={folder / 'train.jsonl'}", "data.valid_fraction=0.2"]


def _slots(folder: Path) -> list[str]:
    lines = ["text,intent,tags"]
    for i in range(30):
        words = random.Random(i).sample(WORDS, 4)
        lines.append(f"{' '.join(words)},I{i % 3},O O B-thing I-thing")
    (folder / "slots.csv").write_text("\n".join(lines) + "\n")
    return [f"data.{s}={folder / 'slots.csv'}" for s in ("train", "valid", "test")]


def _text(folder: Path) -> Path:
    rng = random.Random(0)
    path = folder / "text.txt"
    path.write_text("".join(" ".join(rng.sample(WORDS, 5)) + "\n" for _ in range(200)))
    return path


def _parallel(folder: Path) -> list[str]:
    """Toy translation pairs as two line-aligned files (a subword vocabulary small enough for them)."""
    rng = random.Random(0)
    pairs = [rng.sample(WORDS, 4) for _ in range(40)]
    (folder / "train.src").write_text("".join(" ".join(w) + "\n" for w in pairs))
    (folder / "train.tgt").write_text("".join(" ".join(x.upper() for x in reversed(w)) + " .\n" for w in pairs))
    files = {"source": folder / "train.src", "target": folder / "train.tgt"}
    paths = [f"data.{s}_{side}={files[side]}" for s in ("train", "valid", "test") for side in files]
    return paths + ["data.source_vocab_size=27", "data.target_vocab_size=27", "data.max_len=20"]


def _sessions(folder: Path) -> list[str]:
    """Toy log sessions (event ids): normal ones from a small grammar, abnormal ones with a foreign event."""
    rng = random.Random(0)
    normal = ["1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 4))) + " 6"
              for _ in range(40)]
    (folder / "normal.txt").write_text("\n".join(normal) + "\n")
    (folder / "abnormal.txt").write_text("".join(f"s{i},1 2 9 3 4 6\n" for i in range(5)))
    (folder / "test_normal.txt").write_text("1 2 3 4 6\n1 2 3 5 3 4 6\n")
    return [f"data.train={folder / 'normal.txt'}", f"data.test_abnormal={folder / 'abnormal.txt'}",
            f"data.test_normal={folder / 'test_normal.txt'}", "data.valid=",
            "data.normal_holdout=0.2", "data.valid_fraction=0.2", "model.top_g=2",
            "data.format=lines"]  # each config's own window (configs/adfa.toml: 0, whole sessions); these files: lines


def _calls(folder: Path) -> list[str]:
    """Toy API-call sequences (ids 0-11, with runs of repeats) of 3 families, a labels file, an API index."""
    rng = random.Random(0)
    seqs = [[rng.choice([i % 3, 3 + i % 3, 6 + rng.randrange(6)]) for _ in range(rng.randrange(5, 40))]
            for i in range(30)]
    (folder / "calls.txt").write_text("".join(",".join(map(str, s + s[-1:] * 3)) + "\n" for s in seqs))
    (folder / "types.txt").write_text("".join(f"F{i % 3}\n" for i in range(30)))
    (folder / "index.txt").write_text("".join(f"api{i}={i}\n" for i in range(12)))
    return [f"data.train={folder / 'calls.txt'}", f"data.train_labels={folder / 'types.txt'}",
            f"data.api_index={folder / 'index.txt'}"]


def _series(folder: Path) -> list[str]:
    """A toy hourly CSV series (two sines); the shipped configs' splits, columns and sizes overridden for it."""
    import math

    rows = [f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{math.sin(i / 4):.4f},{math.cos(i / 7) + 2:.4f}"
            for i in range(300)]
    (folder / "series.csv").write_text("date,a,b\n" + "\n".join(rows) + "\n")
    return [f"data.path={folder / 'series.csv'}", "data.columns=a,b", "data.targets=b", "data.time_column=date",
            "data.time_format=", "data.transform=none", "data.lookback=48", "data.horizon=12", "data.train_rows=0",
            "data.valid_rows=0", "data.test_rows=0", "model.segment=24", "model.hidden_size=16"]


def _speech(folder: Path, sentences: bool = True) -> list[str]:
    """Toy 'speech' (tones for words, tests/tiny_speech.py) as WAVs + manifests; shipped configs made small."""
    from tiny_speech import write_speech_data

    paths = write_speech_data(folder, n=16, sentences=sentences)
    return [f"data.train={paths['train']}", f"data.test={paths['test']}", "data.format=manifest", "data.root=",
            "data.valid_fraction=0.25", "model.hidden_size=16", "model.num_layers=1"]


def _wav_inputs() -> list[str]:
    """Two recordings for predict: an 8 kHz mono tone sentence and a 16 kHz stereo one (resampled, averaged)."""
    import tempfile

    import numpy as np
    import soundfile as sf

    from tiny_speech import RATE, tone_wave

    folder = Path(tempfile.mkdtemp(prefix="rnnlab-contract-wavs-"))
    wave = tone_wave(["a", "b"], random.Random(0))
    sf.write(folder / "ab.wav", wave, RATE, subtype="PCM_16")
    stereo = np.repeat(np.interp(np.arange(2 * len(wave)) / 2, np.arange(len(wave)), wave)[:, None], 2, axis=1)
    sf.write(folder / "stereo 16k.wav", stereo.astype(np.float32), 2 * RATE, subtype="PCM_24")
    return [str(folder / "ab.wav"), str(folder / "stereo 16k.wav")]


def _captions(folder: Path) -> list[str]:
    """Toy photos (tests/tiny_caption.py: coloured shapes) with a caption table; shipped configs made small."""
    from tiny_caption import write_photos

    table = write_photos(folder)
    return [f"data.{s}={table}" for s in ("train", "valid", "test")] + [
        "data.images=", "data.min_count=1", "model.hidden_size=16", "model.project_size=16",
        "model.embed_size=8"]


def _photo_inputs() -> list[str]:
    """Two photos for predict: a PNG of a shape and a grey 50 x 30 JPEG (converted to RGB, resized)."""
    import tempfile

    from PIL import Image

    from tiny_caption import draw

    folder = Path(tempfile.mkdtemp(prefix="rnnlab-contract-photos-"))
    draw("red", "circle").save(folder / "red.png")
    Image.new("L", (50, 30), 128).save(folder / "grey.jpg")
    return [str(folder / "red.png"), str(folder / "grey.jpg")]


TOY_DATA = {
    "caption": _captions,
    "speech": _speech,
    "spoken_word": lambda folder: _speech(folder, sentences=False),
    "log_anomaly": _sessions,
    "api_calls": _calls,
    "forecast": _series,
    "translate": _parallel,
    "intent": _intent,
    "intent_slots": _slots,
    "charlm": lambda folder: [f"data.text={_text(folder)}", "data.bptt=16", "data.split_epochs=1"],
    "wordlm": lambda folder: [f"data.{s}={_text(folder)}" for s in ("train", "valid", "test")] + ["data.bptt=8"],
}
WAVS = _wav_inputs()
INPUTS = {"speech": WAVS, "spoken_word": WAVS, "caption": _photo_inputs(),
          "intent": ["what time is it", "zebra unknown words"], "intent_slots": ["play some jazz", "zebra"],
          "charlm": ["the cat", "zq"], "wordlm": ["the cat", "zebra"],
          "translate": ["the cat is jazz", "zebra Ümlaut"],
          "log_anomaly": ["1 2 3 4 6", "x,1 2 77 880 6"], "api_calls": ["0,3,3,3,6", "1 4 99999 7"], "forecast": [
              "date,a,b\n" + "".join(f"2020-02-{1 + i // 24:02d} {i % 24:02d}:00:00,{i % 5 / 4},{2 + i % 7 / 6}\n"
                                      for i in range(60)),
              "date,note,a,b\n" + "".join(f"2020-02-{1 + i // 24:02d} {i % 24:02d}:00:00,zebra Ümlaut,{i % 3},1\n"
                                           for i in range(50))]}


def test_every_registered_task_has_toy_data_and_inputs():
    assert set(TOY_DATA) == set(TASKS) == set(INPUTS)


def _cases():
    return [(name, None) for name in sorted(TASKS)] + [(load_config(path).task, path) for path in CONFIGS]


@pytest.fixture(scope="module", params=_cases(), ids=lambda c: c[1].name if c[1] else c[0])
def fitted(request, tmp_path_factory):
    """(task, model, cfg) fitted on the toy data, from a shipped config or the task's defaults."""
    torch.set_num_threads(1)
    name, path = request.param
    folder = tmp_path_factory.mktemp(name)
    overrides = [] if path else [f"task={name}"]
    overrides += TOY_DATA[name](folder) + [f"run_dir={folder / 'run'}", "train.batch_size=4", "train.progress=false"]
    cfg = load_config(path, overrides)
    assert cfg.task == name
    seed_everything(0)
    task, feats = prepare_task(cfg)
    model = task.build_model()
    if feats.get("valid"):  # what the trainer does last: calibrate on valid (a detector's threshold)
        calibrate(task, model, feats["valid"], 4, torch.device("cpu"))
    return task, model, cfg, feats


def test_one_loss_step(fitted):
    task, model, cfg, feats = fitted
    model.train()
    batch = task.collate([feats["train"][i] for i in task.batches(feats["train"], 4, shuffle=True)[0]])
    out = task.loss(model, batch)
    assert out.count > 0 and torch.isfinite(out.total)
    (out.total / out.count).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_fitted_state_round_trips_through_json(fitted):
    task, _, cfg, _ = fitted
    state = json.loads(json.dumps(task.state_to_json()))
    other = type(task)(cfg.data, cfg.model)
    other.state_from_json(state)
    assert other.state_to_json() == task.state_to_json()


def test_predict_follows_the_schema_and_the_bundle_round_trips(fitted, tmp_path):
    task, model, cfg, _ = fitted
    model.eval()
    inputs = [task.parse_input(t) for t in INPUTS[cfg.task]]
    predictions = task.predict(model, inputs)
    assert len(predictions) == len(inputs)
    for p, text in zip(predictions, INPUTS[cfg.task]):
        check_prediction(p)
        assert p["task"] == cfg.task and p["text"] == text
        assert isinstance(task.format_prediction(p), str)
    assert task.predict(model, []) == []
    save_bundle(tmp_path / "b", task, model, cfg, {"test": {}})
    loaded = rnnlab.load(tmp_path / "b")
    assert loaded.predict(inputs) == predictions


def test_trace_extends_the_prediction(fitted):
    task, model, cfg, _ = fitted
    model.eval()
    text = INPUTS[cfg.task][0]
    trace = task.trace(model, task.parse_input(text))
    check_prediction({k: v for k, v in trace.items() if k not in ("cell", "layers")})
    # a state per token read, or for a photo (no recurrence over its regions) per word the decoder wrote
    steps = len(trace["target_tokens"]) if task.input_kind == "image" else len(trace["tokens"])
    assert trace["layers"] and all(len(layer["h"]) == steps for layer in trace["layers"])


# ---- the three contracts of the layout (docs/architecture.md): engines, the task interface, the encoder ----------

def _eval_batch(task, feats):
    split = "valid" if feats.get("valid") else "train"
    return task.collate([feats[split][i] for i in task.batches(feats[split], 4, shuffle=False)[0]])


def test_every_engine_of_the_table_runs_the_model_and_hidden_size_is_per_direction(fitted):
    """Engines are a table (rnnlab.engines): each registered engine runs every task's recurrences to the same loss;
    and a task's model.hidden_size is the units of one direction of its (first) recurrent layer, in every task."""
    task, model, cfg, feats = fitted
    layers = [m for m in model.modules() if isinstance(m, Recurrent)]
    if not layers:
        pytest.skip(f"model.arch={getattr(cfg.model, 'arch', '?')} has no recurrent layer")
    assert layers[0].hidden_size == cfg.model.hidden_size
    batch, before = _eval_batch(task, feats), [layer.engine for layer in layers]
    model.eval()
    losses = {}
    try:
        for name in ENGINES:
            for layer in layers:
                layer.engine = name
            with torch.no_grad():
                out = task.loss(model, batch)
            losses[name] = float(out.total) / out.count
    finally:
        for layer, engine in zip(layers, before):
            layer.engine = engine
    assert set(losses) == set(ENGINES) and all(math.isfinite(v) for v in losses.values())
    first = losses["fused"]
    assert all(v == pytest.approx(first, rel=1e-4, abs=1e-6) for v in losses.values()), losses


def test_the_declared_interface_reads_files_and_takes_its_options(fitted):
    """Task interface: the input kind is declared, a file of inputs read by the task's own reader (what `rnnlab
    predict FILE` and the studio's /upload do) predicts as the typed inputs do, and every declared option is taken
    by predict, as the CLI types it (a string)."""
    task, model, cfg, _ = fitted
    model.eval()
    assert task.input_kind in INPUT_KINDS
    texts = INPUTS[cfg.task]
    if task.input_kind == "sessions":
        texts = texts[:1]  # the second is typed text with a foreign token, which a session file refuses
    want = task.predict(model, [task.parse_input(t) for t in texts])
    if task.input_kind in ("audio", "image"):  # inputs are paths: each file is one input
        items = [item for t in texts for item in task.parse_bytes(Path(t).read_bytes(), Path(t).name)]
    elif task.input_kind == "series":  # each input is a CSV's text: one file each
        items = [item for i, t in enumerate(texts) for item in task.parse_bytes(t.encode(), f"series{i}.csv")]
    else:  # one input per line
        items = task.parse_bytes(("\n".join(texts) + "\n").encode(), "inputs.txt")
    assert len(items) == len(texts) and all(isinstance(name, str) for name, _ in items)
    got = task.predict(model, [x for _, x in items])
    drop = ("text", "tokens") if task.input_kind in ("audio", "image") else ("text",)  # a file's name, not a path
    assert [{k: v for k, v in p.items() if k not in drop} for p in got] == \
        [{k: v for k, v in p.items() if k not in drop} for p in want]
    for option in task.options:
        typed = {bool: "false", int: str(int(option.minimum or 1)), float: str(option.minimum or 0.5)}.get(
            option.kind, option.choices[0] if option.choices else "")
        for p in task.predict(model, [task.parse_input(texts[0])], **task.check_options({option.name: typed})):
            check_prediction(p)


def test_an_encoder_decoder_model_honours_the_encoder_contract(fitted):
    """Encoder contract (rnnlab.modules.encoder_decoder): a task whose model is an EncoderDecoder encodes its batch
    into memory (B, S, M), mask (B, S) and final (B, F) of the sizes the decoder was built for, and `start` is where
    search begins."""
    task, model, cfg, feats = fitted
    if not isinstance(model, EncoderDecoder):
        pytest.skip(f"{cfg.task}'s model is not an encoder-decoder")
    assert isinstance(model.encoder, Encoder)
    batch = _eval_batch(task, feats)
    model.eval()
    with torch.no_grad():
        enc = model.encoder.encode(batch)
        state, memory, sizes = model.start(batch)
    B = enc.memory.shape[0]
    assert enc.memory.shape[2] == model.encoder.memory_size == model.decoder.memory_size
    assert enc.mask.shape == enc.memory.shape[:2] and enc.mask.dtype == torch.bool
    assert enc.final.shape == (B, model.encoder.final_size) and sizes.tolist() == enc.mask.sum(1).tolist()
    assert (enc.memory[~enc.mask] == 0).all()
