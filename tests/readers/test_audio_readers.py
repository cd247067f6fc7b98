"""Speech readers: audio files and uploads, manifests, FSDD names, the AN4 (Sphinx) layout."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab.errors import DataError, UserError
from rnnlab.readers.audio import (
    Audio,
    an4_utterances,
    audio_from_bytes,
    fsdd_recordings,
    read_audio,
    read_fileids,
    read_manifest,
    read_sphinx_transcription,
    resample,
)
from rnnlab.readers.mfc import read_mfc

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sine(freq: float, rate: int, seconds: float = 0.25, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)  # (n,)


def dominant(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


# ---------------------------------------------------------------- audio


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_wav_subtypes(tmp_path, subtype):
    x = sine(440, 8000)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, 8000, subtype=subtype)
    a = read_audio(p)
    assert isinstance(a, Audio) and a.sample_rate == 8000 and a.name == str(p)
    assert a.samples.shape == x.shape and a.samples.dtype == np.float32
    tol = {"PCM_16": 1 / 2**15, "PCM_24": 1e-5, "FLOAT": 0}[subtype]
    np.testing.assert_allclose(a.samples, x, atol=tol)


def test_stereo_averaged(tmp_path):
    x = sine(440, 8000, amp=0.8)
    p = tmp_path / "left.wav"
    sf.write(p, np.stack([x, np.zeros_like(x)], axis=1), 8000, subtype="FLOAT")  # (n, 2): left only
    a = read_audio(p)
    assert a.samples.shape == x.shape
    np.testing.assert_allclose(a.samples, x / 2, atol=1e-7)
    assert abs(np.abs(a.samples).max() - 0.4) < 1e-3


def test_resample_on_read(tmp_path):
    x = sine(440, 16000, seconds=0.5)
    p = tmp_path / "16k.wav"
    sf.write(p, x, 16000, subtype="PCM_16")
    a = read_audio(p, sample_rate=8000)
    assert a.sample_rate == 8000 and a.samples.dtype == np.float32
    assert abs(a.samples.size - x.size / 2) <= 1
    assert abs(dominant(a.samples, 8000) - 440) <= 2  # 0.5 s: 2 Hz bins
    assert read_audio(p, sample_rate=16000).samples.size == x.size


def test_resample_function():
    x = sine(440, 22050)
    y = resample(x, 22050, 16000)
    assert y.dtype == np.float32 and abs(y.size - x.size * 16000 / 22050) <= 1
    assert abs(dominant(y, 16000) - 440) <= 4
    same = resample(x, 8000, 8000)
    np.testing.assert_array_equal(same, x)
    with pytest.raises(UserError):
        resample(x, 0, 8000)


def test_flac_and_bytes(tmp_path):
    x = sine(300, 11025)
    p = tmp_path / "a.flac"
    sf.write(p, x, 11025, subtype="PCM_16")
    assert read_audio(p).sample_rate == 11025
    buf = io.BytesIO()
    sf.write(buf, x, 11025, format="WAV", subtype="PCM_24")
    a = audio_from_bytes(buf.getvalue(), "upload.wav", sample_rate=16000)
    assert a.name == "upload.wav" and a.sample_rate == 16000
    assert abs(a.samples.size - x.size * 16000 / 11025) <= 1


def message(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_audio_errors(tmp_path):
    with pytest.raises(DataError) as e:
        read_audio(tmp_path / "gone.wav")
    assert "gone.wav: file not found" in message(e)
    with pytest.raises(DataError) as e:
        read_audio(tmp_path)
    assert "is a directory" in message(e)
    text = tmp_path / "notes.wav"
    text.write_text("hello, not audio\n")
    with pytest.raises(DataError) as e:
        read_audio(text)
    assert "notes.wav: not an audio file soundfile can read (WAV, FLAC, OGG): " in message(e)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 8000, subtype="PCM_16")
    with pytest.raises(DataError) as e:
        read_audio(empty)
    assert "empty.wav: no samples" in message(e)
    bad = sine(100, 8000)
    bad[10], bad[20] = np.nan, np.inf
    nan = tmp_path / "nan.wav"
    sf.write(nan, bad, 8000, subtype="FLOAT")
    with pytest.raises(DataError) as e:
        read_audio(nan)
    assert "nan.wav: 2 non-finite samples (NaN or infinity), the first at sample 10" in message(e)
    with pytest.raises(UserError, match="sample rate must be a positive integer"):
        read_audio(nan, sample_rate=0)


def test_upload_errors():
    with pytest.raises(DataError, match=r"^up.wav: empty upload$"):
        audio_from_bytes(b"", "up.wav")
    with pytest.raises(DataError, match=r"^up.wav: not an audio file soundfile can read"):
        audio_from_bytes(b"RIFF....garbage", "up.wav")
    buf = io.BytesIO()
    sf.write(buf, np.zeros(0, np.float32), 8000, format="WAV", subtype="PCM_16")
    with pytest.raises(DataError, match=r"^up.wav: no samples"):
        audio_from_bytes(buf.getvalue(), "up.wav")


# ---------------------------------------------------------------- manifests


def test_tsv_manifest(tmp_path):
    (tmp_path / "clips").mkdir()
    for n in ("a.wav", "b.wav"):
        (tmp_path / "clips" / n).write_bytes(b"")
    absolute = tmp_path / "clips" / "b.wav"
    m = tmp_path / "train.tsv"
    m.write_text(f"Transcript\tspeaker\t PATH \nhello world\ts1\tclips/a.wav\n\n"
                 f'  say "hi", ok  \ts2\t{absolute}\n', encoding="utf-8")
    rows = read_manifest(m)
    assert [(r.audio, r.transcript, r.line, r.source) for r in rows] == [
        (tmp_path / "clips" / "a.wav", "hello world", 2, m), (absolute, 'say "hi", ok', 4, m)]


def test_csv_manifest_quoted(tmp_path):
    m = tmp_path / "list.txt"  # not .tsv: CSV
    m.write_text('path,transcript\nx.wav,"one, two"\ny.wav,"multi\nline"\nz.wav,three\n', encoding="utf-8")
    rows = read_manifest(m, check_files=False)
    assert [(r.audio.name, r.transcript, r.line) for r in rows] == [
        ("x.wav", "one, two", 2), ("y.wav", "multi\nline", 3), ("z.wav", "three", 5)]


@pytest.mark.parametrize("text, line, words", [
    ("file,text\na.wav,hi\n", 1, "missing path and transcript (columns found: 'file', 'text')"),
    ("path,words\na.wav,hi\n", 1, "missing transcript (columns found: 'path', 'words')"),
    ("", 1, "empty manifest"),
    ("path,transcript\na.wav,hi\nb.wav,hi,extra\n", 3, "3 fields but the header has 2"),
    ("path,transcript\n\na.wav\n", 3, "1 field but the header has 2"),
    ("path,transcript\n,hi\n", 2, "empty path"),
    ("path,transcript\na.wav,  \n", 2, "empty transcript for a.wav"),
    ("path,transcript\n\n", None, "no data rows"),
])
def test_manifest_errors(tmp_path, text, line, words):
    m = tmp_path / "m.csv"
    m.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_manifest(m, check_files=False)
    assert e.value.line == line and e.value.path == str(m)
    assert words in message(e)


def test_manifest_missing_audio_and_encoding(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_text("path\ttranscript\nsub/a.wav\thi\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_manifest(m)
    assert e.value.line == 2 and f"audio file {tmp_path / 'sub' / 'a.wav'} ('sub/a.wav' in the path column) " \
                                  "not found" in message(e)
    assert read_manifest(m, check_files=False)[0].audio == tmp_path / "sub" / "a.wav"
    m.write_bytes(b"path\ttranscript\na.wav\thi\nb.wav\t\xff\n")
    with pytest.raises(DataError, match="not valid UTF-8") as e:
        read_manifest(m, check_files=False)
    assert e.value.line == 3
    with pytest.raises(DataError, match="file not found"):
        read_manifest(tmp_path / "none.tsv")


_FIELD = st.text(st.characters(blacklist_characters="\n\r\t\x00", blacklist_categories=("Cs",)), min_size=1,
                 max_size=30).filter(lambda s: s.strip())


@PROPS
@given(st.lists(_FIELD, min_size=1, max_size=8))
def test_tsv_round_trip(tmp_path, transcripts):
    m = tmp_path / "p.tsv"
    m.write_text("path\ttranscript\n" + "".join(f"a{i}.wav\t{t}\n" for i, t in enumerate(transcripts)),
                 encoding="utf-8")
    rows = read_manifest(m, check_files=False)
    assert [r.transcript for r in rows] == [t.strip() for t in transcripts]
    assert [r.line for r in rows] == list(range(2, len(transcripts) + 2))


# ---------------------------------------------------------------- FSDD


def test_fsdd(tmp_path):
    for n in ("3_theo_12.wav", "0_jackson_4.wav", "3_jackson_0.wav", "0_jackson_10.wav", "README.md"):
        (tmp_path / n).write_bytes(b"")
    recs = fsdd_recordings(tmp_path)
    assert [(r.speaker, r.digit, r.index) for r in recs] == [
        ("jackson", 0, 4), ("jackson", 0, 10), ("jackson", 3, 0), ("theo", 3, 12)]
    assert recs[0].path == tmp_path / "0_jackson_4.wav"
    (tmp_path / "take2.wav").write_bytes(b"")
    with pytest.raises(DataError) as e:
        fsdd_recordings(tmp_path)
    assert message(e).endswith("take2.wav: not an FSDD name {digit}_{speaker}_{index}.wav")


def test_fsdd_folder_errors(tmp_path):
    with pytest.raises(DataError, match="missing: FSDD folder not found"):
        fsdd_recordings(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DataError, match="no .wav files"):
        fsdd_recordings(tmp_path)


# ---------------------------------------------------------------- AN4


def mfc_file(path: Path, frames: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.array([frames * 13], ">i4").tobytes() + np.zeros(frames * 13, ">f4").tobytes())


def an4_tree(root: Path, ids: list[str], lines: list[str]) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "an4_train.fileids").write_text("".join(i + "\n" for i in ids))
    (root / "etc" / "an4_train.transcription").write_text("".join(t + "\n" for t in lines))
    for i in ids:
        mfc_file(root / "feat" / f"{i}.mfc")


def test_sphinx_transcription(tmp_path):
    p = tmp_path / "t.transcription"
    p.write_text("<s> YES </s> (an1-a-b)\nGO  NORTH (an2-a-b)\n")
    assert read_sphinx_transcription(p) == [("an1-a-b", "YES", 1), ("an2-a-b", "GO NORTH", 2)]
    for text, line, words in [("YES (a)\nNO\n", 2, "no trailing (id)"), ("YES (a)\n\n", 2, "empty line"),
                              ("<s> </s> (a)\n", 1, "empty transcript for (a)"),
                              ("YES (a)\nNO (a)\n", 2, "duplicate id a (already on line 1)")]:
        p.write_text(text)
        with pytest.raises(DataError) as e:
            read_sphinx_transcription(p)
        assert e.value.line == line and words in message(e)


def test_fileids(tmp_path):
    p = tmp_path / "f.fileids"
    p.write_text("d/s/a\nd/s/b\n")
    assert read_fileids(p) == [("d/s/a", 1), ("d/s/b", 2)]
    p.write_text("d/s/a\n\nd/s/b\n")
    with pytest.raises(DataError, match="f.fileids:2: empty line"):
        read_fileids(p)


def test_an4_join_and_errors(tmp_path):
    root = tmp_path / "an4"
    an4_tree(root, ["c/s/u1", "c/s/u2"], ["<s> YES </s> (u1)", "NO (u2)"])
    utts = an4_utterances(root, "train")
    assert [(u.id, u.transcript, u.line) for u in utts] == [("u1", "YES", 1), ("u2", "NO", 2)]
    assert utts[1].features == root / "feat" / "c/s/u2.mfc" and read_mfc(utts[1].features).shape == (2, 13)
    with pytest.raises(UserError, match="split must be 'train' or 'test'"):
        an4_utterances(root, "dev")
    with pytest.raises(DataError, match="an4_test.fileids: file not found"):
        an4_utterances(root, "test")

    etc = root / "etc"
    (etc / "an4_train.transcription").write_text("YES (u1)\nNO (u3)\n")
    with pytest.raises(DataError) as e:
        an4_utterances(root, "train")
    assert e.value.line == 2 and e.value.path == str(etc / "an4_train.fileids")
    assert f"file id c/s/u2 does not match id u3 at {etc / 'an4_train.transcription'}:2" in message(e)

    (etc / "an4_train.transcription").write_text("YES (u1)\nNO (u2)\nGO (u4)\n")
    with pytest.raises(DataError) as e:
        an4_utterances(root, "train")
    assert "2 file ids but" in message(e) and "an4_train.transcription has 3 transcripts" in message(e)

    (etc / "an4_train.transcription").write_text("YES (u1)\nNO (u2)\n")
    (root / "feat" / "c/s/u2.mfc").unlink()
    with pytest.raises(DataError) as e:
        an4_utterances(root, "train")
    assert e.value.line == 2 and "an4_train.fileids:2: feature file" in message(e) and "u2.mfc not found" in message(e)
    with pytest.raises(DataError, match="AN4 folder not found"):
        an4_utterances(tmp_path / "nowhere", "train")


AN4 = Path(os.environ.get("RNNLAB_DATA") or "/work/shared/data") / "an4"


@pytest.mark.skipif(not (AN4 / "etc" / "an4_train.fileids").is_file(),
                    reason=f"AN4 not found at {AN4} (set RNNLAB_DATA to the folder holding an4/)")
def test_real_an4():
    train, test = an4_utterances(AN4, "train"), an4_utterances(AN4, "test")
    assert (len(train), len(test)) == (948, 130)
    assert (train[0].id, train[0].transcript) == ("an251-fash-b", "YES")
    for u in train[:3] + train[-2:] + test[:3]:
        feats = read_mfc(u.features)
        assert feats.ndim == 2 and feats.shape[1] == 13 and feats.shape[0] > 0
