"""benchmarks/speech.py: how it chooses and reports (the decoder tie rule, greedy first for AN4, the verbatim
test sentences, --rejudge), and --quick: every row's structure on the real data at tiny budgets (not
accuracy), and --reuse scoring the finished runs again without training."""
import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# where the readers look (rnnlab.readers.paths: $RNNLAB_DATA only), so a skip here means the benchmark would not find it
DATA = Path(os.environ["RNNLAB_DATA"]) if os.environ.get("RNNLAB_DATA") else None
needs_an4 = pytest.mark.skipif(DATA is None or not (DATA / "an4" / "etc").is_dir(),
                               reason=f"AN4 not found under $RNNLAB_DATA ({DATA})")


def load_speech_benchmark():
    spec = importlib.util.spec_from_file_location("speech_benchmark", ROOT / "benchmarks" / "speech.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPEECH = load_speech_benchmark()
COMMITTED = ROOT / "benchmarks" / "results" / "speech.json"


def scores(wer, cer=0.0, sentence_accuracy=1.0):
    return {"wer": wer, "cer": cer, "sentence_accuracy": sentence_accuracy}


def test_a_validation_tie_goes_to_the_simpler_decoder_whatever_the_order_of_the_names():
    tie = {"beam+lexicon": scores(0.0), "greedy": scores(0.0)}  # the names sorted: beam first
    assert SPEECH.choose_decoder(tie) == "greedy"
    assert SPEECH.choose_decoder(dict(reversed(tie.items()))) == "greedy"
    three = {"beam+lexicon+lm": scores(0.05, 0.03), "beam+lexicon": scores(0.05, 0.03), "greedy": scores(0.07)}
    assert SPEECH.choose_decoder(three) == "beam+lexicon"
    # the lower WER wins; on equal WER the lower CER; only then the order
    assert SPEECH.choose_decoder({"greedy": scores(0.02), "beam+lexicon": scores(0.01)}) == "beam+lexicon"
    assert SPEECH.choose_decoder({"greedy": scores(0.02, 0.02), "beam+lexicon": scores(0.02, 0.01)}) == "beam+lexicon"
    with pytest.raises(ValueError, match="DECODER_ORDER"):
        SPEECH.choose_decoder({"sampling": scores(0.0)})


def test_connected_digits_report_the_decoder_the_tie_rule_picks_not_the_better_on_test():
    row = {"valid_decoders": {"greedy": scores(0.0), "beam+lexicon": scores(0.0)},
           "decoders": {"greedy": {"digit_error_rate": 0.0064, "string_accuracy": 0.975},
                        "beam+lexicon": {"digit_error_rate": 0.0058, "string_accuracy": 0.977}},
           "best_decoder": "beam+lexicon", "digit_error_rate": 0.0058, "string_accuracy": 0.977}
    out = SPEECH.digits_summary(row)
    assert (out["best_decoder"], out["digit_error_rate"], out["string_accuracy"]) == ("greedy", 0.0064, 0.975)
    assert "tie" in out["tie_rule"] and list(out)[:2] == ["valid_decoders", "decoders"]  # keys keep their places
    [target] = SPEECH.targets_of({"digits": out})
    assert (target["value"], target["decoder"]) == (0.0064, "greedy")


def test_verbatim_is_a_word_for_word_repeat_of_a_training_transcript():
    train = ["GO", "ONE  FIVE TWO", "C I N D Y"]
    test = ["GO", "ONE FIVE TWO", "ONE FIVE", "go", "C I N D Y", "GO", "STOP"]
    assert SPEECH.verbatim(test, train) == [True, True, False, False, True, True, False]
    assert SPEECH.verbatim(["GO"], []) == [False]


def an4_row_in_the_old_layout():
    """An AN4 row as the benchmark wrote it before greedy came first: the LM decoder's figures as the row's."""
    return {"train_minutes": 49.0, "valid_decoders": {"greedy": scores(0.08, 0.04), "beam+lexicon": scores(0.05),
                                                      "beam+lexicon+lm": scores(0.047)},
            "chosen_lm": {"lm_weight": 0.5, "word_bonus": 0.0},
            "best_decoder": "beam+lexicon+lm",
            "test_decoders": {"greedy": scores(0.0996, 0.0394, 0.6), "beam+lexicon": scores(0.063, 0.029, 0.7),
                              "beam+lexicon+lm": scores(0.044, 0.020, 0.8)},
            "wer": 0.044, "cer": 0.020,
            "examples": [{"id": "a", "reference": "GO", "greedy": "O", "beam+lexicon+lm": "GO"},
                         {"id": "b", "reference": "B A O Z", "greedy": "B A O Z", "beam+lexicon+lm": "B A L Z"}]}


def test_an4_reports_greedy_first_and_the_lm_decoder_beside_it():
    facts = {"verbatim": 1, "non_verbatim": 1, "verbatim_sentences": ["GO"]}
    result = SPEECH.rejudge({"an4": an4_row_in_the_old_layout()}, facts)
    an4 = result["an4"]
    assert list(an4)[:4] == ["decoder", "wer", "cer", "sentence_accuracy"]
    assert (an4["decoder"], an4["wer"], an4["cer"]) == ("greedy", 0.0996, 0.0394)
    assert (an4["with_lm"]["decoder"], an4["with_lm"]["wer"], an4["with_lm"]["lm_weight"]) == \
        ("beam+lexicon+lm", 0.044, 0.5)
    assert an4["best_decoder"] == "beam+lexicon+lm"  # still chosen on validation, and said so
    assert an4["verbatim"] == facts and [e["verbatim"] for e in an4["examples"]] == [True, False]
    # without the bundle's hypotheses the non-verbatim WER is not made up: it says how to measure it
    assert an4["non_verbatim"].startswith("not yet measured") and SPEECH.REMEASURE in an4["non_verbatim"]
    assert [(t["name"], t["value"], t["decoder"]) for t in result["targets"][:4]] == [
        ("an4_test_wer", 0.0996, "greedy"), ("an4_test_cer", 0.0394, "greedy"),
        ("an4_test_wer_with_lm", 0.044, "beam+lexicon+lm"), ("an4_test_cer_with_lm", 0.02, "beam+lexicon+lm")]
    assert result["targets"][4]["name"] == "an4_training_minutes"
    # measured figures are kept; rejudging again changes nothing
    measured = copy.deepcopy(result)
    measured["an4"]["non_verbatim"] = {"utterances": 1, "greedy": scores(0.1)}
    assert SPEECH.rejudge(measured) == measured
    assert SPEECH.changes(result, SPEECH.rejudge(result)) == []


def test_the_committed_json_is_as_rejudge_leaves_it():
    result = json.loads(COMMITTED.read_text())
    assert SPEECH.rejudge(result) == result
    assert result["an4"]["decoder"] == "greedy" and result["targets"][3]["name"] == "an4_test_wer"
    assert result["digits"]["best_decoder"] == SPEECH.choose_decoder(result["digits"]["valid_decoders"])
    # the command that trained the bundle the row scores: this benchmark's own (it trained the run) or the
    # `rnnlab train configs/an4.toml ...` of a reused run
    by = result["an4"]["trained_by"]
    assert by.startswith(("rnnlab train configs/an4.toml", "python benchmarks/speech.py")) and "an4" in by


@needs_an4
def test_an4_test_sentences_that_repeat_training_ones_are_counted_from_the_data():
    facts = SPEECH.an4_facts_from_data({"overrides": []})
    assert (facts["test_utterances"], facts["training_transcripts"]) == (130, 948)
    assert (facts["verbatim"], facts["non_verbatim"], facts["verbatim_in_fitted_split"]) == (26, 104, 25)
    assert {"GO", "YES", "C I N D Y"} <= set(facts["verbatim_sentences"])
    assert facts["test_words_not_in_lexicon"] == ["NOVEMBER", "THIRTEEN"]
    assert json.loads(COMMITTED.read_text())["an4"]["verbatim"] == facts


def test_a_reused_bundle_names_the_command_that_trained_it(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"command": "rnnlab train configs/an4.toml"}))
    assert SPEECH.trained_by(tmp_path) == "rnnlab train configs/an4.toml"
    (tmp_path / "config.json").write_text(json.dumps({"command": ""}))  # then the model card's line
    (tmp_path / "README.md").write_text("# rnnlab model\n\n## Training\n\nCommand: `rnnlab train x.toml`\n")
    assert SPEECH.trained_by(tmp_path) == "rnnlab train x.toml"
    (tmp_path / "README.md").write_text("Command: `(not recorded)`\n")
    assert SPEECH.trained_by(tmp_path) == "(not recorded)"


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
    assert an4["best_decoder"] == SPEECH.choose_decoder(an4["valid_decoders"])
    # greedy first (like for like with the anchors), the LM decoder beside it
    assert list(an4)[:3] == ["decoder", "wer", "cer"] and an4["decoder"] == "greedy"
    assert an4["wer"] == an4["test_decoders"]["greedy"]["wer"]
    assert an4["with_lm"]["wer"] == an4["test_decoders"]["beam+lexicon+lm"]["wer"]
    # the verbatim repeats are a fact of the data; the other test utterances are scored by every decoder
    assert (an4["verbatim"]["verbatim"], an4["non_verbatim"]["utterances"]) == (26, 104)
    assert set(an4["non_verbatim"]) == {"utterances", "greedy", "beam+lexicon", "beam+lexicon+lm"}
    assert sum(e["verbatim"] for e in an4["examples"]) == 2  # GO, C I N D Y among the first 12
    assert digits["best_decoder"] == SPEECH.choose_decoder(digits["valid_decoders"])
    names = [t["name"] for t in first["targets"]]
    assert names == ["fsdd_test_accuracy", "fsdd_training_minutes", "connected_digit_error_rate", "an4_test_wer",
                     "an4_test_cer", "an4_test_wer_with_lm", "an4_test_cer_with_lm", "an4_training_minutes"]
    assert first["targets"][3]["decoder"] == "greedy" and first["targets"][5]["decoder"] == "beam+lexicon+lm"
    assert out.with_suffix(".png").stat().st_size > 10_000
    # --reuse: the same runs scored again, nothing trained, the same figures
    proc = subprocess.run(cmd + ["--reuse"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    again = json.loads(out.read_text())
    assert again["fsdd"]["reused"] and again["an4"]["reused"] and again["digits"]["reused"]
    assert again["an4"]["test_decoders"] == an4["test_decoders"]
    assert again["an4"]["non_verbatim"] == an4["non_verbatim"]
    # a reused row names the command that trained its bundle: the first run's, not this --reuse one
    assert again["command"].endswith("--reuse") and again["an4"]["trained_by"] == first["command"]
    assert again["fsdd"]["accuracy"] == first["fsdd"]["accuracy"]
