"""Speech datasets as examples: the four layouts a speech config's `data.format` names, split into train,
valid and test, and the waveform behind each example.

    manifest      a TSV or CSV with `path` and `transcript` columns (readers.audio.read_manifest)
    fsdd          Free Spoken Digit Dataset recordings `{digit}_{speaker}_{index}.wav`: the official split
                  (index 0-4 test) or one speaker held out as the test split (speaker-independent)
    fsdd_strings  connected digits: FSDD recordings joined into strings with random gaps (rnnlab.audio.strings),
                  each split's strings from that split's recordings only
    an4           CMU AN4 as Sphinx MFCC files (readers.audio.an4_utterances): the features are read, not computed

A validation split cut from the training items is a fixed fraction under a fixed permutation (`split_seed`,
readers.splits.hold_out), so it never depends on the training seed. Problems are UserError / DataError naming
the file and line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlab.audio.strings import DigitString, draw_strings, join
from rnnlab.errors import UserError
from rnnlab.readers.audio import DigitRecording, an4_utterances, fsdd_recordings, read_audio, read_manifest
from rnnlab.readers.splits import hold_out

FORMATS = ("manifest", "fsdd", "fsdd_strings", "an4")
CASES = ("keep", "lower", "upper")
SPLITS = ("train", "valid", "test")


@dataclass
class SpeechExample:
    name: str  # what predictions and errors call it: a path, an utterance id, a string's digits
    transcript: str  # the words (spoken_word: the class)
    audio: Path | None = None  # a recording to read
    mfc: Path | None = None  # AN4: a Sphinx MFCC file to read
    parts: tuple = ()  # fsdd_strings: (the recordings' paths, the gaps, the room tone's seed)
    speaker: str = ""
    cache: dict = field(default_factory=dict, repr=False)  # raw frames, computed once


def normalise_transcript(text: str, case: str = "keep") -> str:
    """Whitespace collapsed to single spaces, then the case changed (keep | lower | upper) as the config says:
    transcripts are changed so before training and before scoring."""
    text = " ".join(text.split())
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def manifest_examples(path: str | Path, case: str = "keep") -> list[SpeechExample]:
    """A manifest's rows, each named `manifest:line` (what an error about its recording names)."""
    return [SpeechExample(f"{t.source}:{t.line}", normalise_transcript(t.transcript, case), audio=t.audio)
            for t in read_manifest(path)]


def an4_examples(root: Path, split: str, *, case: str = "keep", valid_fraction: float = 0.1,
                 split_seed: int = 0) -> list[SpeechExample]:
    """AN4's test set, or its training set less (train) or only (valid) the held-out fraction."""
    if split == "test":
        utts = an4_utterances(root, "test")
    else:
        utts = hold_out(an4_utterances(root, "train"), valid_fraction, split_seed)[0 if split == "train" else 1]
    return [SpeechExample(u.id, normalise_transcript(u.transcript, case), mfc=u.features) for u in utts]


def fsdd_splits(root: Path, *, test_speaker: str = "", valid_fraction: float = 0.1,
                split_seed: int = 0) -> dict[str, list[DigitRecording]]:
    """FSDD's recordings by split: the official one (index 0-4 test) or `test_speaker`'s recordings as test;
    valid is held out of the rest. ValueError for a speaker the recordings do not have."""
    recs = fsdd_recordings(root)
    if test_speaker:
        speakers = sorted({r.speaker for r in recs})
        if test_speaker not in speakers:
            raise ValueError(f"test_speaker {test_speaker!r} is not among the recordings' speakers "
                             f"({', '.join(speakers)})")
        test = [r for r in recs if r.speaker == test_speaker]
        rest = [r for r in recs if r.speaker != test_speaker]
    else:
        test = [r for r in recs if r.index < 5]
        rest = [r for r in recs if r.index >= 5]
    train, valid = hold_out(rest, valid_fraction, split_seed)
    return {"train": train, "valid": valid, "test": test}


def fsdd_examples(recordings: list[DigitRecording]) -> list[SpeechExample]:
    """One example per recording: its digit is the transcript."""
    return [SpeechExample(r.path.name, str(r.digit), audio=r.path, speaker=r.speaker) for r in recordings]


def digit_string_examples(recordings: list[DigitRecording], split: str, n: int, *, min_digits: int = 2,
                          max_digits: int = 7, gap_min: float = 0.05, gap_max: float = 0.3,
                          string_seed: int = 0) -> list[SpeechExample]:
    """n connected-digit strings drawn from `recordings` (the split's own), named `{split}-{i}`; each split
    draws with its own seed, fixed by `string_seed`. ValueError when the recordings cannot make the strings."""
    seed = string_seed * 3 + SPLITS.index(split)  # each split its own draw
    strings = draw_strings(n, len(recordings), min_digits=min_digits, max_digits=max_digits,
                           gap_min=gap_min, gap_max=gap_max, seed=seed)
    return [SpeechExample(f"{split}-{i}", " ".join(str(recordings[j].digit) for j in s.parts),
                          parts=(tuple(recordings[j].path for j in s.parts), s.gaps, (seed, i)))
            for i, s in enumerate(strings)]


def example_wave(ex: SpeechExample, sample_rate: int, recordings: dict[Path, np.ndarray] | None = None, *,
                 room_tone: bool = True) -> np.ndarray:
    """(n,) float32 at `sample_rate`: the example's recording, or its digit string joined with its gaps (room
    tone seeded per string, so a string sounds the same every time). `recordings` caches the strings'
    recordings, each read once. An unreadable recording's error names the manifest line it came from."""
    if ex.parts:
        paths, gaps, noise_seed = ex.parts
        recordings = {} if recordings is None else recordings
        for p in paths:
            if p not in recordings:
                recordings[p] = read_audio(p, sample_rate).samples
        rng = np.random.default_rng(list(noise_seed)) if room_tone else None
        return join([recordings[p] for p in paths], DigitString(tuple(range(len(paths))), gaps), sample_rate, rng)
    if ex.audio is None:
        raise ValueError(f"{ex.name}: the example has no recording")
    try:
        return read_audio(ex.audio, sample_rate).samples
    except UserError as e:
        if ex.name in (str(ex.audio), ex.audio.name):
            raise
        raise UserError(f"{ex.name}: {e}") from None  # manifest:line: the file's own problem
