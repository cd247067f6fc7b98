"""`rnnlab generate` and `rnnlab fill` end to end on bundles trained in the tests."""
from __future__ import annotations

import json
import subprocess
import sys

import rnnlab
from rnnlab.cli import main
from rnnlab.generate import sample_text


def test_generate_cli_prints_the_seeded_sample(char_bundle, capsys):
    args = [str(char_bundle), "--prompt", "ROMEO:", "--length", "40", "--temperature", "0.8", "--top-k", "5",
            "--seed", "7"]
    assert main(["generate", *args]) == 0
    first = capsys.readouterr().out
    assert main(["generate", *args]) == 0
    assert capsys.readouterr().out == first  # same seed -> same text
    expected = sample_text(rnnlab.load(char_bundle), "ROMEO:", 40, temperature=0.8, top_k=5, seed=7)
    assert first == expected + "\n"


def test_generate_cli_streams_before_it_finishes(char_bundle):
    """The first characters reach the pipe while sampling is still going on (flushed per token)."""
    code = "from rnnlab.cli import main; raise SystemExit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "generate", str(char_bundle), "--prompt", "R",
                             "--length", "100000", "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        head = proc.stdout.read(20)  # returns long before 100,000 characters could be sampled
        assert len(head) == 20 and head.startswith(b"R")
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_generate_cli_errors(char_bundle, fill_dir, tmp_path, capsys):
    assert main(["generate", str(char_bundle), "--temperature", "-2"]) == 1
    assert "temperature must be >= 0" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "nope")]) == 1
    assert "not a bundle directory" in capsys.readouterr().err


def test_fill_cli_ranks_candidates(fill_dir, capsys):
    assert main(["fill", str(fill_dir), "the ___ drinks milk", "--json", "-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "exact" and result["candidates"][0]["word"] == "cat"
    assert 0 < sum(c["probability"] for c in result["candidates"]) <= 1 + 1e-6
    assert main(["fill", str(fill_dir), "the ___ chews bones", "--method", "left"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("the ___ chews bones   (left:")
    assert lines[1].split()[0] == "1." and len(lines) == 11
    assert main(["fill", str(fill_dir), "no blank"]) == 1
    assert "exactly one blank" in capsys.readouterr().err


def test_evaluate_a_char_lm_by_default_and_on_a_file(char_bundle, tmp_path, capsys):
    """A character LM has no test split: evaluate scores valid by default, and --data FILE scores a whole text."""
    import json as _json

    from rnnlab.cli import main as _main

    assert _main(["evaluate", str(char_bundle), "--json"]) == 0
    default = _json.loads(capsys.readouterr().out)
    assert default["split"] == "valid" and default["loss"] > 0
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("ROMEO: what light through yonder window breaks?\n" * 3)
    assert _main(["evaluate", str(char_bundle), "--data", str(held_out), "--json"]) == 0
    on_file = _json.loads(capsys.readouterr().out)
    assert on_file["loss"] > 0 and on_file["loss"] != default["loss"]
    (tmp_path / "short.txt").write_text("R")
    assert _main(["evaluate", str(char_bundle), "--data", str(tmp_path / "short.txt")]) == 1
    assert "too short" in capsys.readouterr().err
