import hashlib
import http.server
import os
import threading
from functools import partial

import pytest

from rnnlab.cli import main
from rnnlab.datasets import DATASETS, Dataset, FileSpec, check, download
from rnnlab.errors import UserError

CONTENT = b"first line\nsecond line\n"
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/www."""
    root = tmp_path / "www"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "a.txt").write_bytes(CONTENT)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def toy(url, sha=SHA):
    return Dataset("toy", "a toy", "tests", "none", "a.txt", (FileSpec("a.txt", len(CONTENT), sha, url),))


def test_download_over_http_verifies_and_saves(server, tmp_path):
    base, _ = server
    data = tmp_path / "data"
    (saved,) = download(toy(f"{base}/toy/a.txt"), data, echo=lambda m: None)
    assert saved.read_bytes() == CONTENT
    assert check(toy(""), data) == []
    msgs = []
    download(toy(f"{base}/toy/a.txt"), data, echo=msgs.append)  # second time: nothing fetched
    assert "already present" in msgs[0]


def test_download_from_file_url(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(CONTENT)
    (saved,) = download(toy(src.as_uri()), tmp_path / "data", echo=lambda m: None)
    assert saved.read_bytes() == CONTENT


def test_checksum_mismatch_saves_nothing(server, tmp_path):
    base, _ = server
    data = tmp_path / "data"
    with pytest.raises(UserError, match="checksum mismatch"):
        download(toy(f"{base}/toy/a.txt", sha="0" * 64), data, echo=lambda m: None)
    assert list((data / "toy").iterdir()) == []  # no partial or unverified file left


def test_unreachable_url_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="download failed"):
        download(toy((tmp_path / "absent").as_uri()), tmp_path / "data", echo=lambda m: None)


def test_check_reports_missing_size_and_hash(tmp_path):
    assert "missing" in check(toy(""), tmp_path)[0]
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.txt").write_bytes(b"short")
    assert "5 bytes, expected" in check(toy(""), tmp_path)[0]
    (tmp_path / "toy" / "a.txt").write_bytes(CONTENT.upper())
    assert "sha256 differs" in check(toy(""), tmp_path)[0]


def test_cli_list_check_and_mirror_download(server, tmp_path, capsys):
    base, root = server
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS) and "licence" in out
    (root / "tinyshakespeare").mkdir()
    (root / "tinyshakespeare" / "input.txt").write_bytes(b"not shakespeare")
    assert main(["data", "download", "tinyshakespeare", "--data-dir", str(tmp_path / "d"), "--mirror", base]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert main(["data", "check", "tinyshakespeare", "--data-dir", str(tmp_path / "d")]) == 1
    assert "missing" in capsys.readouterr().out
    assert main(["data", "download", "fsdd", "--data-dir", str(tmp_path / "d")]) == 1
    assert "no stable download URL" in capsys.readouterr().err


def test_check_the_real_copies():
    if not os.environ.get("RNNLAB_DATA"):
        pytest.skip("RNNLAB_DATA is not set (point it at the shared data directory)")
    assert main(["data", "check", "snips"]) == 0
