"""rnnlab.readers.text: language-model text; an empty file names the file."""
import pytest

from rnnlab.errors import DataError
from rnnlab.readers.text import read_corpus, word_stream


def test_text_reader(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b\n\nc\n")
    assert word_stream(read_corpus(path), "<eos>") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    path.write_text("  \n")
    with pytest.raises(DataError, match=r"t\.txt.*no text"):
        read_corpus(path)
