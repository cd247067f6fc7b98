"""rnnlab.readers.intents: utterances as the intent classifier reads them; errors name the file and line."""
import pytest

from rnnlab.errors import DataError
from rnnlab.readers.intents import read_intents, tokenize


def test_intent_reader_tokenises_as_user_input_is(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "What\'s the TIME?", "intent": "ask_time"}\n{"text": "a b c d", "intent": "x"}\n')
    first, second = read_intents(path, lowercase=True, max_tokens=3)
    assert first.tokens == ["what's", "the", "time"] == tokenize("What's the TIME?")[:3]
    assert (first.intent, first.text, second.tokens) == ("ask_time", "What's the TIME?", ["a", "b", "c"])
    assert read_intents(path, lowercase=False)[0].tokens == ["What's", "the", "TIME", "?"]
    path.write_text('{"text": "ok"}\n')
    with pytest.raises(DataError, match=r"d\.jsonl:1: missing key"):
        read_intents(path)
