"""Bad audio input (issue 31), one row per case: recordings and manifests given to `train`, `evaluate`,
`transcribe`, `predict` and the studio's /upload (/audio) end in one line naming the file (and the manifest
line), exit 1 or a 4xx, never a traceback, a hang or a confident score. Tiny CTC and spoken_word bundles are
trained here once on tone 'speech' (tests/tiny_speech.py)."""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from rnnlab import limits
from rnnlab.cli import main
from rnnlab.studio import create_app
from rnnlab.training import train
from tiny_speech import RATE, speech_config, tone_wave, write_speech_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, one_thread):
    """{"speech": (data, bundle), "spoken_word": (data, bundle)} plus the bad files every row draws on."""
    root = tmp_path_factory.mktemp("bad-speech")
    out = {}
    for task in ("speech", "spoken_word"):
        paths = write_speech_data(root / task, n=24, sentences=task == "speech")
        train(speech_config(paths, root / f"run-{task}", task=task, train={"epochs": 3}), echo=None,
              command="tests/cli/test_bad_input_speech.py")
        out[task] = (root / task, root / f"run-{task}" / "bundle")
    _write_bad_files(root)
    out["root"] = root
    yield out
    limits.reset()


def _wav(path: Path, samples: np.ndarray) -> bytes:
    sf.write(path, samples.astype(np.float32), RATE, subtype="PCM_16")
    return path.read_bytes()


def _write_bad_files(root: Path) -> None:
    """Beside both data folders' wavs/: a one-sample WAV, a zero-frame WAV, a 2-second tone, text named .wav,
    a folder named .wav; manifests naming each, and transcripts the bundles cannot score."""
    rng = random.Random(1)
    for task in ("speech", "spoken_word"):
        d = root / task
        _wav(d / "one.wav", np.zeros(1))
        _wav(d / "empty.wav", np.zeros(0))
        _wav(d / "long.wav", np.concatenate([tone_wave(["a"], rng)] * 6))  # about 2 s
        (d / "notes.wav").write_text("not audio\n")
        (d / "folder.wav").mkdir()
        rows = {"short": "one.wav\ta", "empty": "empty.wav\ta", "long": "long.wav\ta", "folder": "folder.wav\ta",
                "missing": "gone.wav\ta", "symbols": "wavs/test_1.wav\ta x b", "foreign": "wavs/test_1.wav\tHELLO",
                "label": "wavs/test_1.wav\tzebra"}
        for name, row in rows.items():
            (d / f"{name}.tsv").write_text(f"path\ttranscript\nwavs/test_0.wav\ta\n{row}\n")
        (d / "header.tsv").write_text("path\ttranscript\n")
        (d / "blank.tsv").write_text("")
        (d / "train-short.tsv").write_text("path\ttranscript\none.wav\ta\n" + "".join(
            f"wavs/train_{i}.wav\ta\n" for i in range(8)))


def _toml(root: Path, task: str, **data: str) -> Path:
    """A config file for `rnnlab train` on the tiny data (the sizes of tiny_speech.speech_config)."""
    lines = [f'task = "{task}"', f'run_dir = "{root / "never"}"', "[data]"]
    lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in data.items()]
    lines += ["[model]", 'features = "logmel"', f"sample_rate = {RATE}", "n_mels = 16", "hidden_size = 8",
              "num_layers = 1", "[train]", "epochs = 1", "progress = false"]
    path = root / f"{task}-{len(data)}-{abs(hash(tuple(data.items())))}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# (id, verb, bundle, arguments (files relative to that bundle's data folder, {root}, {bundle}), message parts)
CLI_CASES = [
    ("ctc-symbol-outside-alphabet", "evaluate", "speech", ["--data", "symbols.tsv"],
     ["symbols.tsv:3:", "'x'", "outside the model's alphabet", "' abc'"]),
    ("ctc-transcript-all-foreign", "evaluate", "speech", ["--data", "foreign.tsv"],
     ["foreign.tsv:3:", "'E', 'H', 'L', 'O'", "alphabet"]),
    ("word-unknown-label", "evaluate", "spoken_word", ["--data", "label.tsv"],
     ["label.tsv:3:", "label 'zebra'", "'a', 'b', 'c'"]),
    ("one-sample-wav-evaluate", "evaluate", "speech", ["--data", "short.tsv"],
     ["short.tsv:3:", "one.wav", "too short: 1 sample at 8000 Hz", "min_audio_seconds=0.025"]),
    ("one-sample-wav-evaluate-word", "evaluate", "spoken_word", ["--data", "short.tsv"],
     ["short.tsv:3:", "one.wav", "too short"]),
    ("zero-frame-wav-evaluate", "evaluate", "speech", ["--data", "empty.tsv"],
     ["empty.tsv:3:", "empty.wav", "no samples"]),
    ("long-wav-evaluate", "evaluate", "speech", ["--data", "long.tsv", "--limit", "max_audio_seconds=1"],
     ["long.tsv:3:", "long.wav", "too long: 2.", "max_audio_seconds=1", "--limit max_audio_seconds=N"]),
    ("manifest-row-is-a-folder", "evaluate", "speech", ["--data", "folder.tsv"],
     ["folder.tsv:3:", "folder.wav", "is a directory"]),
    ("manifest-row-missing-file", "evaluate", "speech", ["--data", "missing.tsv"],
     ["missing.tsv:3:", "gone.wav", "not found"]),
    ("manifest-header-only", "evaluate", "speech", ["--data", "header.tsv"], ["header.tsv", "no data rows"]),
    ("manifest-empty-file", "evaluate", "speech", ["--data", "blank.tsv"], ["blank.tsv:1:", "empty manifest"]),
    ("manifest-is-a-folder", "evaluate", "speech", ["--data", "wavs"], ["wavs", "is a directory, not a manifest"]),
    ("one-sample-wav-transcribe", "transcribe", "speech", ["one.wav"], ["one.wav", "too short: 1 sample"]),
    ("one-sample-wav-transcribe-word", "transcribe", "spoken_word", ["one.wav"], ["one.wav", "too short"]),
    ("zero-frame-wav-transcribe", "transcribe", "speech", ["empty.wav"], ["empty.wav", "no samples"]),
    ("long-wav-transcribe", "transcribe", "speech", ["long.wav", "--limit", "max_audio_seconds=1.5"],
     ["long.wav", "too long", "max_audio_seconds=1.5"]),
    ("min-limit-raised-transcribe", "transcribe", "speech", ["wavs/test_0.wav", "--limit", "min_audio_seconds=30"],
     ["test_0.wav", "too short", "min_audio_seconds=30"]),
    ("text-named-wav-transcribe", "transcribe", "speech", ["notes.wav"], ["notes.wav", "not an audio file"]),
    ("folder-transcribe", "transcribe", "speech", ["folder.wav"], ["folder.wav", "is a directory"]),
    ("manifest-given-to-transcribe", "transcribe", "speech", ["test.tsv"],
     ["test.tsv", "a list, not a recording", "rnnlab evaluate BUNDLE --data test.tsv"]),
    ("one-sample-wav-predict", "predict", "speech", ["one.wav"], ["one.wav", "too short"]),
    ("one-sample-wav-train", "train", "speech", ["{toml:speech:train-short.tsv}"],
     ["train-short.tsv:2:", "one.wav", "too short"]),
    ("unknown-label-in-valid-train", "train", "spoken_word", ["{toml:spoken_word:label.tsv}"],
     ["label.tsv:3:", "label 'zebra'", "training data"]),
    ("digits-toml-manifest-path-ignored", "train", "speech",
     [str(ROOT / "configs" / "digits.toml"), "data.train=my.tsv", "run_dir={root}/never"],
     ["data.train = 'my.tsv'", "data.format = fsdd_strings does not read it", "set data.format = manifest"]),
    ("strings-key-under-manifest", "train", "speech", ["{toml:speech:train.tsv}", "data.strings_train=10"],
     ["data.strings_train = 10", "data.format = manifest does not read it", "data.format = fsdd_strings"]),
    ("test-speaker-under-an4", "train", "speech",
     [str(ROOT / "configs" / "an4.toml"), "data.test_speaker=jackson", "run_dir={root}/never"],
     ["data.test_speaker = 'jackson'", "data.format = an4", "fsdd or data.format = fsdd_strings"]),
]


def _argv(verb: str, task: str, args: list[str], bundles) -> list[str]:
    data, bundle = bundles[task]
    out = []
    for a in args:
        if a.startswith("{toml:"):
            _, kind, manifest = a.strip("{}").split(":")
            valid = {"valid": str(data / manifest)} if manifest == "label.tsv" else {}
            train_file = "train.tsv" if manifest == "label.tsv" else manifest
            out.append(str(_toml(bundles["root"], kind, format="manifest", train=str(data / train_file), **valid)))
        elif "=" not in a and (a.endswith((".tsv", ".wav")) or a == "wavs"):
            out.append(str(data / a))
        else:
            out.append(a.replace("{root}", str(bundles["root"])))
    return [verb, *out] if verb == "train" else [verb, str(bundle), *out]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_in_one_line(bundles, capsys, case):
    _, verb, task, args, parts = case
    code = main(_argv(verb, task, args, bundles))
    out = capsys.readouterr()
    assert code == 1, out
    assert out.out == "" and "Traceback" not in out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rnnlab {verb}: error: "), out.err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_the_good_manifest_still_scores(bundles, capsys):
    """The rows above are refused for their bad line alone: the same manifest without it is scored."""
    for task in ("speech", "spoken_word"):
        data, bundle = bundles[task]
        assert main(["evaluate", str(bundle), "--data", str(data / "test.tsv"), "--json"]) == 0
        assert '"split"' in capsys.readouterr().out


# ---- the studio's /upload (/audio)

def _multipart(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None,
               boundary: str = "b0undary") -> bytes:
    """A multipart/form-data body as curl -F writes it: CRLF framing, one part per file and field."""
    out = b""
    for key, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    for name, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: audio/wav\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _form(boundary: str = "b0undary") -> str:
    return f"multipart/form-data; boundary={boundary}"


def _file(name: str):
    return lambda d: (d / name).read_bytes()


def _form_of(*names: str, fields: dict[str, str] | None = None, cut: int = 0):
    """A form holding the data folder's files `names` (each under its own name), less its last `cut` bytes."""
    def body(d: Path) -> bytes:
        data = _multipart([(Path(n).name, (d / n).read_bytes()) for n in names], fields)
        return data[:len(data) - cut]
    return body


# (id, route, body (of the data folder), content type, --limit items, status, message parts); ?name=mine.wav
UPLOAD_CASES = [
    ("one-sample-wav", "/upload", _file("one.wav"), "audio/wav", [], 422, ["mine.wav", "too short: 1 sample"]),
    ("zero-frame-wav", "/audio", _file("empty.wav"), "audio/wav", [], 422, ["mine.wav", "no samples"]),
    ("long-wav", "/upload", _file("long.wav"), "audio/wav", ["max_audio_seconds=1"], 422,
     ["mine.wav", "too long", "max_audio_seconds=1"]),
    ("text-named-wav", "/upload", _file("notes.wav"), "audio/wav", [], 422, ["mine.wav", "not an audio file"]),
    ("form-sent-as-raw-bytes", "/audio", _form_of("wavs/test_0.wav"), "application/octet-stream", [], 422,
     ["a multipart form, not audio", "--data-binary @a.wav", "multipart/form-data"]),
    ("form-with-two-files", "/upload", _form_of("wavs/test_0.wav", "wavs/test_1.wav"), _form(), [], 400,
     ["2 files", "one file per request", "--data-binary"]),
    ("form-without-a-file", "/upload", _form_of(fields={"name": "a.wav", "note": "hi"}), _form(), [], 400,
     ["no file", "curl -F file=@a.wav"]),
    ("form-without-boundary", "/audio", _form_of("wavs/test_0.wav"), "multipart/form-data", [], 400,
     ["needs a boundary"]),
    ("form-cut-short", "/upload", _form_of("wavs/test_0.wav", cut=20), _form(), [], 400, ["cut short or malformed"]),
    ("form-one-sample-wav", "/upload", _form_of("one.wav"), _form(), [], 422, ["mine.wav", "too short"]),
]


@pytest.fixture(scope="module")
def client(bundles):
    with TestClient(create_app(bundles["speech"][1]), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES])
def test_upload_refuses_in_one_line(bundles, client, case):
    _, route, body, content_type, limit, status, parts = case
    limits.configure(limit)
    try:
        r = client.post(route, params={"name": "mine.wav"}, content=body(bundles["speech"][0]),
                        headers={"Content-Type": content_type})
    finally:
        limits.reset()
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for part in parts:
        assert part in message, (part, message)


@pytest.mark.parametrize("route", ["/upload", "/audio"])
def test_a_form_with_one_file_is_read_like_the_raw_bytes(bundles, client, route):
    """curl -F file=@a.wav: the file is taken out of the form (its name from the form unless ?name= says),
    and the answer is the raw upload's."""
    wav = (bundles["speech"][0] / "wavs" / "test_0.wav").read_bytes()
    raw = client.post(route, params={"name": "a.wav"}, content=wav, headers={"Content-Type": "audio/wav"})
    form = client.post(route, content=_multipart([("take 1.wav", wav)], {"comment": "x"}),
                       headers={"Content-Type": _form()})
    named = client.post(route, params={"name": "b.wav"}, content=_multipart([("take 1.wav", wav)]),
                        headers={"Content-Type": _form('"b0undary"')})  # a quoted boundary
    # httpx's own multipart encoder (another client's framing, a random boundary)
    httpx_form = client.post(route, files={"file": ("c.wav", io.BytesIO(wav), "audio/wav")})
    assert raw.status_code == 200, raw.text
    assert form.status_code == 200 and httpx_form.status_code == 200, (form.text, httpx_form.text)
    assert form.json()["sequence"] == raw.json()["sequence"] == httpx_form.json()["sequence"]
    assert form.json()["audio"]["posteriors"] == raw.json()["audio"]["posteriors"]
    assert named.status_code == 200, named.text
    assert (form.json()["text"], named.json()["text"], httpx_form.json()["text"]) == ("take 1.wav", "b.wav", "c.wav")
