"""benchmarks/speech.py --quick: every row's structure on the real data at tiny budgets (not accuracy), and
--reuse scoring the finished runs again without training."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not os.environ.get("RNNLAB_DATA"), reason="RNNLAB_DATA is not set: the benchmark reads FSDD, AN4")
def test_quick_speech_benchmark_writes_its_json_and_reuses_finished_runs(tmp_path):
    out, runs = tmp_path / "speech.json", tmp_path / "runs"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speech.py"), "--quick", "--threads", "1", "--out", str(out),
           "--runs", str(runs)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    first = json.loads(out.read_text())
    assert first["quick"] and first["machine"]["cpu_capability"] is not None
    assert first["fsdd"]["test_examples"] == 300 and len(first["fsdd"]["confusion"]) == 10
    assert sum(map(sum, first["fsdd"]["confusion"])) == 300
    assert list(first["speakers"]["speakers"]) == ["george"]
    assert first["speakers"]["speakers"]["george"]["test"]["examples"] == 500  # all of one speaker's recordings
    digits = first["digits"]
    assert digits["test_strings"] == 40 and set(digits["decoders"]) == {"greedy", "beam+lexicon"}
    an4 = first["an4"]
    assert an4["test_utterances"] == 130 and an4["valid_utterances"] == 47
    assert set(an4["test_decoders"]) == {"greedy", "beam+lexicon", "beam+lexicon+lm"}
    # the LM weight and word bonus: the grid's best on VALIDATION, and the decoder chosen on validation
    best = min(an4["lm_grid"], key=lambda g: (g["wer"], g["cer"], g["lm_weight"], g["word_bonus"]))
    assert (an4["chosen_lm"]["lm_weight"], an4["chosen_lm"]["word_bonus"]) == (best["lm_weight"], best["word_bonus"])
    assert an4["best_decoder"] == min(an4["valid_decoders"], key=lambda k: (an4["valid_decoders"][k]["wer"],
                                                                           an4["valid_decoders"][k]["cer"]))
    assert an4["wer"] == an4["test_decoders"][an4["best_decoder"]]["wer"]
    names = [t["name"] for t in first["targets"]]
    assert names == ["fsdd_test_accuracy", "fsdd_training_minutes", "connected_digit_error_rate", "an4_test_wer",
                     "an4_test_cer", "an4_training_minutes"]
    assert out.with_suffix(".png").stat().st_size > 10_000
    # --reuse: the same runs scored again, nothing trained, the same figures
    proc = subprocess.run(cmd + ["--reuse"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    again = json.loads(out.read_text())
    assert again["fsdd"]["reused"] and again["an4"]["reused"] and again["digits"]["reused"]
    assert again["an4"]["test_decoders"] == an4["test_decoders"]
    assert again["fsdd"]["accuracy"] == first["fsdd"]["accuracy"]
