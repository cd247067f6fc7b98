"""Speech data: audio files and uploads -> mono float32 at one sample rate, and the lists that name them.

    read_audio / audio_from_bytes   a WAV (16-bit, 24-bit, float), FLAC or OGG file or upload -> `Audio`
    resample                        soxr, so every recording reaches the model at the rate it was trained on
    read_manifest                   a TSV / CSV of `path` + `transcript` -> `Transcribed`, paths beside the manifest
    fsdd_recordings                 the Free Spoken Digit Dataset's `{digit}_{speaker}_{index}.wav` files
    an4_utterances                  CMU AN4 (Sphinx layout): fileids + transcription + feat/*.mfc, joined by line

Audio is read with soundfile (libsndfile), so the formats are what libsndfile reads; channels are averaged
because the models take one channel, and integer formats come back in [-1, 1]. Everything a user can get
wrong (a missing file, something that is not audio, silence of zero length, NaN in a float WAV, a manifest
row without its transcript) is a one-line DataError naming the file, and the line where there is one. So is a
recording shorter than limits.min_audio_seconds (less than one analysis window) or longer than
max_audio_seconds (`--limit` sets both), for every verb and upload alike.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rnnlab import limits
from rnnlab.errors import DataError, UserError
from rnnlab.readers.lines import table_rows, text_lines

# ---------------------------------------------------------------- audio


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # (n,) float32 mono, in [-1, 1] for integer formats
    sample_rate: int
    name: str  # the file path or upload name, for messages


def _check_rate(sample_rate: int | None) -> None:
    if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int)
                                    or sample_rate <= 0):
        raise UserError(f"sample rate must be a positive integer (Hz), got {sample_rate!r}")


def _short_reason(e: Exception) -> str:
    """libsndfile's own words ("Format not recognised."), without soundfile's "Error opening '...'" prefix,
    which repeats the path the DataError already names; one line."""
    reason = getattr(e, "error_string", None) or str(e)
    return " ".join(reason.split()).rstrip(".") or type(e).__name__


def _check_duration(n: int, rate: int, name: str) -> None:
    """Refuse a recording shorter than limits.min_audio_seconds (less than one analysis window: nothing to
    recognise, and a model would answer it confidently all the same) or longer than max_audio_seconds."""
    if n <= 0 or rate <= 0:
        return  # zero frames: said below in its own words
    seconds, lim = n / rate, limits.current()
    if seconds < lim.min_audio_seconds:
        raise DataError(name, None, f"recording too short: {n} sample{'s' if n != 1 else ''} at {rate} Hz "
                                    f"({seconds:.4g} s), shorter than one analysis window "
                                    f"(limit min_audio_seconds={lim.min_audio_seconds:g}; lower with --limit "
                                    "min_audio_seconds=S)")
    if seconds > lim.max_audio_seconds:
        raise DataError(name, None, f"recording too long: {seconds:.1f} s, more than max_audio_seconds; split it "
                                    f"into shorter recordings {limits.hint('max_audio_seconds')}")


def _decode(source, name: str, sample_rate: int | None) -> Audio:
    """`source` (a path or a file object) -> Audio; the checks read_audio and audio_from_bytes share."""
    try:
        with sf.SoundFile(source) as f:
            _check_duration(f.frames, f.samplerate, name)  # from the header: a 10-hour file is refused unread
            data, rate = f.read(dtype="float32", always_2d=True), f.samplerate  # (n, channels)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as e:
        # TypeError / ValueError: what soundfile raises for RAW files (no header to take the rate from)
        raise DataError(name, None, "not an audio file soundfile can read (WAV, FLAC, OGG): "
                                    f"{_short_reason(e)}") from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(name, None, "no samples (the file holds an audio header but zero frames)")
    _check_duration(data.shape[0], rate, name)  # again on what was read: a header can miscount
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.argmax(bad.any(axis=1)))
        raise DataError(name, None, f"{int(bad.sum())} non-finite samples (NaN or infinity), the first at sample "
                                    f"{first} ({first / rate:.3f} s)")
    samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]  # (n,)
    if sample_rate is not None and sample_rate != rate:
        samples, rate = resample(samples, rate, sample_rate), sample_rate
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(rate), name)


def read_audio(path: str | Path, sample_rate: int | None = None) -> Audio:
    """A file's audio as mono float32, resampled to `sample_rate` when given and different; DataError
    (one line, the path) for a missing file, a directory, a file libsndfile cannot read, zero samples or
    NaN / infinite samples."""
    _check_rate(sample_rate)
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, "is a directory, not an audio file")
    if not path.exists():
        raise DataError(path, None, "file not found")
    try:
        return _decode(str(path), str(path), sample_rate)
    except DataError as e:
        if path.suffix.lower() not in (".tsv", ".csv") or not e.problem.startswith("not an audio file"):
            raise
        raise DataError(path, None, "a list, not a recording: give the audio files themselves; a manifest of "
                                    "recordings and transcripts is scored by `rnnlab evaluate BUNDLE --data "
                                    f"{path.name}`") from None


def audio_from_bytes(data: bytes, name: str, sample_rate: int | None = None) -> Audio:
    """An upload's audio (the HTTP body), with read_audio's checks; `name` (the upload's file name) is what
    the messages name. Empty bytes are "empty upload", said before libsndfile would call them unreadable."""
    _check_rate(sample_rate)
    if not data:
        raise DataError(name, None, "empty upload")
    if data[:2] == b"--" and b"content-disposition: form-data" in data[:4096].lower():
        # a form's bytes sent without its multipart Content-Type header: say what was meant, not "unreadable"
        raise DataError(name, None, "a multipart form, not audio: send the file's bytes as the body (curl "
                                    "--data-binary @a.wav \"http://HOST/upload?name=a.wav\"), or the form with its "
                                    "Content-Type: multipart/form-data header (curl -F file=@a.wav)")
    return _decode(io.BytesIO(bytes(data)), name, sample_rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """(n,) -> (about n * to_rate / from_rate,) float32 with soxr's "HQ" filter; the same array (as float32)
    when the rates are equal, so reading at the file's own rate costs nothing."""
    if from_rate <= 0 or to_rate <= 0:
        raise UserError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)


# ---------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Transcribed:
    audio: Path  # the audio file, resolved relative to the manifest's folder (absolute paths kept)
    transcript: str  # as written, stripped of surrounding whitespace
    line: int  # 1-based line in the manifest
    source: Path  # the manifest


def read_manifest(path: str | Path, *, check_files: bool = True) -> list[Transcribed]:
    """Every row of a manifest: a `.tsv` (tab-separated, quotes taken literally, since transcripts quote
    speech) or a CSV (any other name; the csv module's quoting, so a transcript may hold commas) whose
    header row names the columns `path` and `transcript` (any order and case; other columns ignored).
    Relative audio paths are relative to the manifest's folder, so a dataset folder can move as a whole.

    Blank lines are skipped (a manifest's line is a pointer to a file, not a position that other files
    align with), but every line number is the file's own. DataError (manifest + line) for a missing or
    wrong header, a row with the wrong number of fields, an empty path or transcript, text that is not
    UTF-8, no rows at all, and (with `check_files`) an audio file that is not there."""
    path = Path(path)
    out: list[Transcribed] = []
    for line, row in table_rows(path, ("path", "transcript"), "manifest", "recordings"):
        raw, transcript = row["path"].strip(), row["transcript"].strip()
        if not raw:
            raise DataError(path, line, "empty path: every row names its audio file")
        if not transcript:
            raise DataError(path, line, f"empty transcript for {raw}")
        audio = Path(raw)
        if not audio.is_absolute():
            audio = path.parent / audio
        if check_files and not audio.is_file():
            what = "is a directory, not an audio file" if audio.is_dir() else "not found"
            raise DataError(path, line, f"audio file {audio} ({raw!r} in the path column) {what}")
        out.append(Transcribed(audio, transcript, line, path))
    return out


# ---------------------------------------------------------------- FSDD


@dataclass(frozen=True)
class DigitRecording:
    path: Path
    digit: int  # 0-9
    speaker: str  # e.g. "jackson"
    index: int  # 0-49; the official split: index 0-4 is test


_FSDD_NAME = re.compile(r"([0-9])_([A-Za-z0-9-]+)_([0-9]+)\.wav")


def fsdd_recordings(folder: str | Path) -> list[DigitRecording]:
    """Every `*.wav` of `folder` (the dataset's `recordings/`), sorted by (speaker, digit, index). The name
    is the only label FSDD has, so a .wav named otherwise is a DataError rather than a skipped file (it
    would be a recording with no digit); other files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, None, "FSDD folder not found (expected the dataset's recordings/ folder of "
                                      "{digit}_{speaker}_{index}.wav files)")
    out = []
    for p in folder.iterdir():
        if p.suffix.lower() != ".wav" or not p.is_file():
            continue
        m = _FSDD_NAME.fullmatch(p.name)
        if not m:
            raise DataError(p, None, "not an FSDD name {digit}_{speaker}_{index}.wav")
        out.append(DigitRecording(p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not out:
        raise DataError(folder, None, "no .wav files in the FSDD folder")
    out.sort(key=lambda r: (r.speaker, r.digit, r.index))
    return out


# ---------------------------------------------------------------- AN4 (Sphinx layout)


@dataclass(frozen=True)
class Utterance:
    id: str  # "an251-fash-b"
    features: Path  # the .mfc file
    transcript: str  # "YES" (without <s> </s> or the "(id)")
    line: int  # line in the transcription file


_TRAILING_ID = re.compile(r"(.*?)\s*\(([^()\s]+)\)\s*")


def read_sphinx_transcription(path: str | Path) -> list[tuple[str, str, int]]:
    """(id, transcript, line) of each line `<s> WORDS ... </s> (id)` (the <s> / </s> optional). A blank line
    is an error, not skipped: the file aligns line by line with its fileids. DataError (file + line) for a
    line without a trailing "(id)", an empty transcript or an id seen before."""
    path = Path(path)
    out = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(text_lines(path), start=1):
        m = _TRAILING_ID.fullmatch(raw.strip())
        if not m:
            problem = "empty line" if not raw.strip() else f"no trailing (id) in {raw.strip()[:60]!r}"
            raise DataError(path, i, f"{problem}: every line is `WORDS ... (utterance-id)`")
        words, uid = m.group(1).split(), m.group(2)
        if words and words[0] == "<s>":
            words = words[1:]
        if words and words[-1] == "</s>":
            words = words[:-1]
        if not words:
            raise DataError(path, i, f"empty transcript for ({uid})")
        if uid in seen:
            raise DataError(path, i, f"duplicate id {uid} (already on line {seen[uid]})")
        seen[uid] = i
        out.append((uid, " ".join(words), i))
    return out


def read_fileids(path: str | Path) -> list[tuple[str, int]]:
    """(relative path without extension, line) of each line, e.g. "an4_clstk/fash/an251-fash-b"; a blank
    line is a DataError, since line k pairs with line k of the transcription."""
    path = Path(path)
    out = []
    for i, raw in enumerate(text_lines(path), start=1):
        fid = raw.strip()
        if not fid:
            raise DataError(path, i, "empty line: every line is a file id such as an4_clstk/fash/an251-fash-b")
        out.append((fid, i))
    return out


def an4_utterances(root: str | Path, split: str) -> list[Utterance]:
    """The `split` ("train" or "test") of the AN4 folder `root`: etc/an4_{split}.fileids joined line by line
    with etc/an4_{split}.transcription, features at feat/<fileid>.mfc. The basename of each file id must
    be the id of the same-numbered transcript (a shifted line would pair every later recording with the
    wrong words); DataError naming both files and lines when not, naming both counts when the files hold
    different numbers of lines, and naming the fileids line of a missing .mfc."""
    if split not in ("train", "test"):
        raise UserError(f"AN4 split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, "AN4 folder not found (expected etc/an4_{train,test}.fileids, "
                                    ".transcription and feat/)")
    ids_path = root / "etc" / f"an4_{split}.fileids"
    text_path = root / "etc" / f"an4_{split}.transcription"
    fileids, transcripts = read_fileids(ids_path), read_sphinx_transcription(text_path)
    out = []
    for (fid, fline), (uid, words, tline) in zip(fileids, transcripts):
        base = fid.rsplit("/", 1)[-1]
        if base != uid:
            raise DataError(ids_path, fline, f"file id {fid} does not match id {uid} at {text_path}:{tline} "
                                             "(the two files must list the same utterances in the same order)")
        feats = root / "feat" / f"{fid}.mfc"
        if not feats.is_file():
            raise DataError(ids_path, fline, f"feature file {feats} not found")
        out.append(Utterance(uid, feats, words, tline))
    if len(fileids) != len(transcripts):
        raise DataError(ids_path, None, f"{len(fileids)} file ids but {text_path} has {len(transcripts)} "
                                        "transcripts (the two files must have one line per utterance each)")
    return out
