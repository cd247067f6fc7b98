"""`rnnlab caption BUNDLE photo.jpg [more.jpg ...]`: a caption for each photo, with a caption bundle.

Any JPEG or PNG (any format Pillow reads) of any size and mode is taken: converted to RGB and resized to the CNN's
input as the training photos were. Every file is read before anything is captioned, so one missing, corrupt or
non-image file is one line on stderr naming it and exit code 1, with nothing half-printed. The CNN's weights come
from the installed package named in the bundle, checked against its SHA-256: nothing is downloaded.

One line per photo, `PATH<TAB>caption`. `--beam N` sets the beam (1 = greedy; default the bundle's model.beam).
`--json` prints one object per photo: the caption, its words, their scores, the photo's size, the grid of regions
and, for each word (and </s>), the attention over the grid as rows x columns weights (`attention`), where on the
photo the decoder looked as it wrote that word. A formatter over the task's predict and its declared options (beam,
attention): `rnnlab predict BUNDLE photo.jpg --option beam=N` computes the same."""
from __future__ import annotations

import argparse
import json

from rnnlab.cli.predict import _allow_flags_after_texts, require_task


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a caption bundle directory (e.g. runs/flickr8k/bundle)")
    p.add_argument("files", nargs="+", metavar="IMAGE", help="photos: JPEG or PNG files")
    p.add_argument("--beam", type=int, default=None, metavar="N",
                   help="beam width (1 = greedy; default: the bundle's model.beam)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per photo: caption, words, scores, attention per word as a grid")
    _allow_flags_after_texts(p)


def caption_json(path: str, pred: dict) -> dict:
    """The prediction of one photo as `caption --json` prints it: attention rows reshaped to the grid."""
    rows, cols = pred["image"]["grid"]
    out = {"file": path, "caption": pred["answer"]["label"], "probability": pred["answer"]["probability"],
           "words": pred["sequence"], "log_prob": pred["scores"]["log_prob"], "width": pred["image"]["width"],
           "height": pred["image"]["height"], "grid": [rows, cols], "encoder": pred["image"].get("encoder")}
    if "attention" in pred:
        out["tokens"] = pred["target_tokens"]
        out["attention"] = [[row[r * cols: (r + 1) * cols] for r in range(rows)] for row in pred["attention"]]
    return out


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load

    predictor = load(args.bundle)
    require_task(predictor, "caption", "captioning", "caption")
    task = predictor.task
    options = task.check_options({"beam": args.beam, "attention": args.json}, called={"beam": "--beam"})
    named = [item for path in args.files for item in task.inputs_from_file(path)]  # every file read before output
    preds = predictor.predict([x for _, x in named], **options)
    for (path, _), pred in zip(named, preds):
        print(json.dumps(caption_json(path, pred), ensure_ascii=False) if args.json
              else f"{path}\t{pred['answer']['label']}")
    return 0
