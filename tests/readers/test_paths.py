"""rnnlab.readers.paths: `package:`, `~` and `$RNNLAB_DATA`."""
import pytest

from rnnlab.errors import UserError
from rnnlab.readers.paths import resolve_path


def test_paths(monkeypatch):
    assert resolve_path("package:demo_intents/train.jsonl").exists()
    monkeypatch.setenv("RNNLAB_DATA", "/data")
    assert str(resolve_path("$RNNLAB_DATA/snips")) == "/data/snips"
    monkeypatch.delenv("RNNLAB_DATA")
    with pytest.raises(UserError, match="RNNLAB_DATA is not set"):
        resolve_path("$RNNLAB_DATA/snips")
