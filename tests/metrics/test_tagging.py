"""rnnlab.metrics.tagging: IOB2 chunks and seqeval's two modes."""
import pytest

from rnnlab.metrics.tagging import chunk_f1, chunks


def test_chunks_and_both_seqeval_modes():
    tokens = "play the beatles on spotify".split()
    assert chunks(tokens, ["O", "B-artist", "I-artist", "O", "B-service"]) == [
        {"type": "artist", "start": 1, "end": 3, "text": "the beatles"},
        {"type": "service", "start": 4, "end": 5, "text": "spotify"}]
    # a stray I- starts a chunk, as conlleval reads it
    assert chunks(tokens, ["O", "I-artist", "I-artist", "O", "O"])[0]["text"] == "the beatles"
    gold = [["O", "B-artist", "I-artist", "O", "B-service"]]
    stray = [["O", "I-artist", "I-artist", "O", "B-service"]]
    assert chunk_f1(gold, stray) == 1.0  # default (conlleval) mode forgives the missing B-
    assert chunk_f1(gold, stray, strict=True) == pytest.approx(2 / 3)  # strict IOB2: no artist chunk, P 1/1, R 1/2
