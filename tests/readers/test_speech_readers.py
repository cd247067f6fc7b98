"""rnnlab.readers.speech: the speech datasets' layouts as examples. FSDD's official and held-out-speaker splits
never share a recording; digit strings draw only from their split's recordings, fixed by the seed; AN4 reads its
MFCC files and holds out valid; a recording that cannot be read is named by the manifest line it came from."""
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rnnlab.errors import UserError
from rnnlab.readers.speech import (
    SpeechExample,
    an4_examples,
    digit_string_examples,
    example_wave,
    fsdd_examples,
    fsdd_splits,
    manifest_examples,
    normalise_transcript,
)
from tiny_speech import RATE, tone_wave

TAKE = 240  # samples of each take (30 ms at 8 kHz, + its digit): above limits.min_audio_seconds

SPEAKERS = ("ann", "bob", "cid")


def fsdd_folder(root: Path, *, wavs: bool = False) -> Path:
    """FSDD's naming over 3 speakers x 10 digits x 8 takes; WAVs with a constant level per file when asked."""
    root.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(SPEAKERS):
        for digit in range(10):
            for index in range(8):
                path = root / f"{digit}_{speaker}_{index}.wav"
                if wavs:
                    sf.write(path, np.full(TAKE + digit, 0.01 * (1 + s), np.float32), RATE, subtype="FLOAT")
                else:
                    path.write_bytes(b"")
    return root


def test_transcripts_are_spaced_once_and_cased_as_asked():
    assert normalise_transcript("  go   North\tnow ") == "go North now"
    assert normalise_transcript("go North", "lower") == "go north"
    assert normalise_transcript("go North", "upper") == "GO NORTH"


def test_fsdd_official_and_speaker_splits_share_no_recording(tmp_path):
    root = fsdd_folder(tmp_path / "recordings")
    official = fsdd_splits(root, valid_fraction=0.2, split_seed=0)
    assert {r.index for r in official["test"]} == set(range(5)) and len(official["test"]) == 150
    assert len(official["valid"]) == 18 and len(official["train"]) == 72
    names = {s: {r.path.name for r in official[s]} for s in official}
    assert not names["train"] & names["valid"] and not (names["train"] | names["valid"]) & names["test"]
    held = fsdd_splits(root, test_speaker="bob", valid_fraction=0.1)
    assert {r.speaker for r in held["test"]} == {"bob"} and len(held["test"]) == 80
    assert "bob" not in {r.speaker for r in held["train"] + held["valid"]}
    with pytest.raises(ValueError, match=r"test_speaker 'dan' is not among the recordings' speakers \(ann, bob"):
        fsdd_splits(root, test_speaker="dan")
    examples = fsdd_examples(official["test"][:3])
    assert [(e.name, e.transcript, e.speaker) for e in examples] == [
        (r.path.name, str(r.digit), r.speaker) for r in official["test"][:3]]


def test_digit_strings_draw_from_their_own_recordings_fixed_by_the_seed(tmp_path):
    root = fsdd_folder(tmp_path / "recordings", wavs=True)
    split = fsdd_splits(root, valid_fraction=0.2)
    train = digit_string_examples(split["train"], "train", 40, min_digits=2, max_digits=4, string_seed=3)
    assert train == digit_string_examples(split["train"], "train", 40, min_digits=2, max_digits=4, string_seed=3)
    assert [e.name for e in train[:2]] == ["train-0", "train-1"]
    own = {r.path for r in split["train"]}
    assert all(set(e.parts[0]) <= own and 2 <= len(e.parts[0]) <= 4 for e in train)
    assert all(e.transcript == " ".join(p.name[0] for p in e.parts[0]) for e in train)  # the digits, spoken order
    test = digit_string_examples(split["test"], "test", 40, min_digits=2, max_digits=4, string_seed=3)
    assert [e.transcript for e in test] != [e.transcript for e in train]  # each split draws with its own seed
    with pytest.raises(ValueError):
        digit_string_examples(split["valid"][:3], "valid", 5, max_digits=7)
    cache: dict = {}
    wave = example_wave(train[0], RATE, cache)
    paths, gaps, _ = train[0].parts
    assert len(wave) == sum(TAKE + int(p.name[0]) for p in paths) + sum(round(g * RATE) for g in gaps)
    assert set(cache) == set(paths)  # each recording read once, then reused
    assert np.array_equal(wave, example_wave(train[0], RATE, cache))  # the room tone is the string's own
    silent = example_wave(train[0], RATE, cache, room_tone=False)
    assert np.count_nonzero(silent) == sum(TAKE + int(p.name[0]) for p in paths)


def test_an4_reads_the_feature_files_and_holds_out_valid(tmp_path):
    root = tmp_path / "an4"
    (root / "etc").mkdir(parents=True)
    ids = [f"c/s/u{i}" for i in range(10)]
    for split in ("train", "test"):
        (root / "etc" / f"an4_{split}.fileids").write_text("".join(i + "\n" for i in ids))
        (root / "etc" / f"an4_{split}.transcription").write_text(
            "".join(f"<s> GO  north {i} </s> (u{i})\n" for i in range(10)))
    for i in ids:
        (root / "feat" / f"{i}.mfc").parent.mkdir(parents=True, exist_ok=True)
        (root / "feat" / f"{i}.mfc").write_bytes(np.array([26], ">i4").tobytes() + np.zeros(26, ">f4").tobytes())
    train = an4_examples(root, "train", case="upper", valid_fraction=0.2, split_seed=0)
    valid = an4_examples(root, "valid", case="upper", valid_fraction=0.2, split_seed=0)
    test = an4_examples(root, "test")
    assert len(train) == 8 and len(valid) == 2 and len(test) == 10
    assert not {e.name for e in train} & {e.name for e in valid}
    assert test[3].name == "u3" and test[3].transcript == "GO north 3" and valid[0].transcript.startswith("GO NORTH")
    assert test[3].mfc == root / "feat" / "c/s/u3.mfc" and test[3].audio is None


def test_a_manifest_row_is_named_by_its_line_and_a_bad_recording_by_that_line(tmp_path):
    sf.write(tmp_path / "a.wav", tone_wave(["a"], random.Random(0)), RATE)
    (tmp_path / "b.wav").write_text("not a recording")
    (tmp_path / "m.tsv").write_text("path\ttranscript\na.wav\tHello  There\n\nb.wav\tbye\n")
    good, bad = manifest_examples(tmp_path / "m.tsv", "lower")
    assert (good.name, good.transcript, good.audio) == (f"{tmp_path / 'm.tsv'}:2", "hello there", tmp_path / "a.wav")
    assert bad.name == f"{tmp_path / 'm.tsv'}:4"
    assert len(example_wave(good, RATE)) == len(sf.read(tmp_path / "a.wav")[0])
    with pytest.raises(UserError) as e:
        example_wave(bad, RATE)
    assert str(e.value).startswith(f"{tmp_path / 'm.tsv'}:4: {tmp_path / 'b.wav'}: not an audio file")
    with pytest.raises(UserError) as e:  # a recording named by itself (FSDD) is not named twice
        example_wave(SpeechExample("b.wav", "x", audio=tmp_path / "b.wav"), RATE)
    assert str(e.value).startswith(f"{tmp_path / 'b.wav'}: not an audio file")
