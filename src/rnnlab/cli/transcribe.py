"""`rnnlab transcribe BUNDLE a.wav [b.wav ...]`: what was said in each recording, with a speech or spoken_word bundle.

A `speech` bundle (CTC) prints each file's transcript; a `spoken_word` bundle (a classifier of isolated words)
prints the word it heard and its probability. One line per file, `PATH<TAB>transcript`. Every file is read
(WAV, FLAC, OGG; any rate, mono or stereo: resampled to the bundle's rate, channels averaged) before anything
is printed, so one unreadable file is one line on stderr and exit code 1, with nothing half-printed.

`--beam N` (speech only) decodes with a prefix beam search of width N (1 = greedy: the best symbol per step,
repeats merged, blanks dropped) instead of the bundle's model.beam. `--json` prints one object per file instead:
for speech the transcript, the word timings, the decoder used, the greedy transcript, the output symbols (the
CTC blank first, as "") and the posteriors (per step, per symbol), the step length and the recording's length;
for spoken_word the word, its probability, the ranking of every word and the recording's length. A formatter over
the task's predict and its declared options (beam): `rnnlab predict BUNDLE a.wav --option beam=N` computes the same.
"""
from __future__ import annotations

import argparse
import json

from rnnlab.cli.predict import _allow_flags_after_texts, add_runtime_argument

TASKS = ("speech", "spoken_word")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a speech or spoken_word bundle directory (e.g. runs/an4/bundle)")
    p.add_argument("files", nargs="+", metavar="AUDIO", help="recordings: WAV, FLAC or OGG files")
    p.add_argument("--beam", type=int, default=None, metavar="N",
                   help="speech: beam width of the CTC decoder (1 = greedy; default: the bundle's model.beam)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per file: transcript, word timings, posteriors per step (speech); "
                        "word, probability and ranking (spoken_word)")
    _allow_flags_after_texts(p)
    add_runtime_argument(p)


def require_audio_task(predictor) -> None:
    """One line, not a traceback, for another task's bundle (as cli.predict.require_task, for two tasks)."""
    from rnnlab.errors import UserError

    if predictor.task.name not in TASKS:
        raise UserError(f"{predictor.path}: task {predictor.config.task!r} is not a speech model "
                        "(transcribe needs a speech or spoken_word bundle; `rnnlab predict` runs any bundle)")


def _speech_json(path: str, pred: dict) -> dict:
    a = pred["audio"]
    return {"file": path, "transcript": " ".join(pred["sequence"]), "words": a.get("words", []),
            "decoder": a.get("decoder"), "greedy": a.get("greedy"), "symbols": a.get("symbols", []),
            "posteriors": a.get("posteriors", []), "frame_seconds": a["frame_seconds"], "seconds": a["seconds"]}


def _word_json(path: str, pred: dict) -> dict:
    return {"file": path, "word": pred["answer"]["label"], "probability": pred["answer"]["probability"],
            "ranking": pred["ranking"], "seconds": pred["audio"]["seconds"]}


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import UserError
    from rnnlab.runtime import load_predictor

    predictor = load_predictor(args.bundle, args.runtime)
    require_audio_task(predictor)
    task = predictor.task
    speech = task.name == "speech"
    if args.beam is not None and "beam" not in {o.name for o in task.options}:
        raise UserError(f"{predictor.path}: --beam is for speech (CTC) bundles; a spoken_word bundle classifies "
                        "the whole recording as one word, there is nothing to search")
    options = task.check_options({"beam": args.beam} if args.beam is not None else {}, called={"beam": "--beam"})
    named = [item for path in args.files for item in task.inputs_from_file(path)]  # every file read before output
    preds = predictor.predict([x for _, x in named], **options)
    for (path, _), pred in zip(named, preds):
        if args.json:
            print(json.dumps(_speech_json(path, pred) if speech else _word_json(path, pred), ensure_ascii=False))
        elif speech:
            print(f"{path}\t{' '.join(pred['sequence'])}")
        else:
            print(f"{path}\t{pred['answer']['label']} ({pred['answer']['probability']:.1%})")
    return 0
