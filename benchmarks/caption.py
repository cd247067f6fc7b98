"""Flickr8k captioning benchmark (issue #26): a frozen CNN sees, an LSTM with attention describes.

    python benchmarks/caption.py --minutes 45                       # the attention row, then the no-attention row
    python benchmarks/caption.py --minutes 45 --rows attention      # one row
    python benchmarks/caption.py --quick                            # a smoke run on 60 photos (tests)

Protocol (the anchors': Xu et al. 2015; sulabhkatiyar/Spatial_Att):
- the official split: train 6,000 photos (30,000 captions), dev 1,000, test 1,000 (Hodosh et al. 2013);
- features: EfficientNet-Lite0 (ImageNet, frozen), computed once per photo into a fresh cache and timed apart
  (`feature_extraction`); each row then trains configs/flickr8k.toml within `train.max_minutes` of training time
  (the LR schedule runs on time) and keeps the epoch with the best dev BLEU-4 (greedy);
- the beam width is chosen on dev (BLEU-4 over beams 1, 3, 5); test is decoded once, with it;
- scores: corpus BLEU-1..4 (closest reference length, all 5 references), CIDEr-D and METEOR 1.5 by the COCO
  caption evaluation code (pycocoevalcap), on lowercased words with punctuation dropped (rnnlab.metrics.caption);
  BLEU and METEOR x100, CIDEr as printed by the papers (0.493 = 49.3 x 1/100).
Writes benchmarks/results/flickr8k.json (rows, machine, versions, targets), flickr8k.png (learning curves) and
flickr8k_examples.png (test photos, their captions and, per word, where the decoder looked).
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchcommon  # noqa: E402
import lmbench  # noqa: E402

CONFIG = ROOT / "configs" / "flickr8k.toml"
TARGET_BLEU4, TARGET_CIDER, TARGET_MINUTES = 21.3, 0.50, 60.0
BEAMS = (1, 3, 5)
ANCHORS = {
    "show_attend_tell_soft (Xu et al. 2015, VGG, BLEU-1/4, METEOR)": {"bleu1": 67.0, "bleu4": 19.5, "meteor": 18.93},
    "show_attend_tell_hard (Xu et al. 2015, VGG)": {"bleu1": 67.0, "bleu4": 21.3, "meteor": 20.30},
    "spatial attention, frozen VGG-16, beam 3 (sulabhkatiyar/Spatial_Att)": {"bleu4": 19.5, "cider": 0.493},
    "show_and_tell without attention, greedy": {"bleu4": 12.3},
}
PROTOCOL = ("pycocoevalcap 1.2 (COCO caption evaluation): corpus BLEU-1..4 with the 'closest' reference length "
            "over all 5 references per photo, CIDEr-D, METEOR 1.5; captions lowercased, punctuation dropped "
            "(rnnlab.metrics.caption.caption_words, standing in for coco-caption's PTBTokenizer); official Flickr8k "
            "test split, 1,000 photos; beam width chosen on dev")
ROWS = {"attention": [], "no-attention": ["model.regions=mean"]}


def quick_data(folder: Path, n: int = 60) -> list[str]:
    """A smoke set: the first n photos of each official split list (their captions from the token file)."""
    from rnnlab.readers.paths import resolve_path

    src = resolve_path("$RNNLAB_DATA/flickr8k")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for split, name in (("train", "trainImages"), ("valid", "devImages"), ("test", "testImages")):
        lines = (src / f"Flickr_8k.{name}.txt").read_text().split()[:n if split == "train" else n // 3]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
        out.append(f"data.{split}={folder / f'{split}.txt'}")
    return out


def extract_features(cfg, cache: Path) -> dict[str, Any]:
    """Every photo of every split through the CNN into `cache`; timed (the budget's first part)."""
    import os

    from rnnlab.tasks import get_task_class

    os.environ["RNNLAB_CACHE"] = str(cache)
    task = get_task_class(cfg.task)(cfg.data, cfg.model)
    paths = sorted({it.image for split in task.splits() for it in task.read_images(split)})
    t0 = time.perf_counter()
    task.store.features(paths, desc="feature extraction")
    seconds = time.perf_counter() - t0
    return {"images": len(paths), "seconds": round(seconds, 1), "images_per_s": round(len(paths) / seconds, 2),
            "encoder": cfg.data.encoder, "layer": cfg.data.layer, "cache": str(cache)}


def split_batches(task, feats: list[dict], batch_size: int) -> list[dict[str, torch.Tensor]]:
    return [task.collate([feats[i] for i in b]) for b in task.batches(feats, batch_size, shuffle=False)]


def score(task, model, batches, beam: int, meteor: bool) -> dict[str, Any]:
    from rnnlab.explain import eval_mode
    from rnnlab.metrics.caption import caption_scores

    t0 = time.perf_counter()
    with eval_mode(model):
        hyps, refs = task.captions_of(model, batches, beam)
    seconds = time.perf_counter() - t0
    raw = caption_scores(hyps, refs, meteor=meteor)
    scores = {k: (round(v, 4) if k == "cider" else round(100 * v, 2)) if isinstance(v, float) else v
              for k, v in raw.items()}
    return {"beam": beam, "photos": len(hyps), "decode_s": round(seconds, 1), **scores,
            "mean_words": round(sum(len(h.split()) for h in hyps) / len(hyps), 2), "captions": hyps}


def run_row(name: str, overrides: list[str], minutes: float, runs: Path, command: str, threads: int,
            quick: bool) -> dict[str, Any]:
    import rnnlab
    from rnnlab.config import load_config
    from rnnlab.training import train

    run_dir = runs / f"bench-flickr8k-{name}"
    cfg = load_config(CONFIG, overrides + [f"run_dir={run_dir}", f"train.max_minutes={minutes}",
                                           "train.epochs=1000", "train.progress=false", f"train.threads={threads}"])
    clock = lmbench.Clock()
    t0 = time.perf_counter()
    summary = train(cfg, overwrite=True, command=command, echo=lambda line: print(f"[{name}] {line}", flush=True))
    wall = time.perf_counter() - t0
    records = lmbench.read_metrics(run_dir)
    predictor = rnnlab.load(run_dir / "bundle")
    task, model = predictor.task, predictor.model
    dev = [task.encode(e) for e in task.read("valid")]
    test_examples = task.read("test")
    test = [task.encode(e) for e in test_examples]
    dev_batches, test_batches = split_batches(task, dev, 100), split_batches(task, test, 100)
    by_beam = {}
    for beam in BEAMS:
        s = score(task, model, dev_batches, beam, meteor=False)
        s.pop("captions")
        by_beam[beam] = s
        print(f"[{name}] dev beam {beam}: BLEU-4 {s['bleu4']} CIDEr {s['cider']}", flush=True)
    chosen = max(BEAMS, key=lambda b: (by_beam[b]["bleu4"], -b))
    tested = score(task, model, test_batches, chosen, meteor=True)  # test: once, with the beam dev chose
    captions = tested.pop("captions")
    print(f"[{name}] test beam {chosen}: BLEU-1..4 {tested['bleu1']} / {tested['bleu2']} / {tested['bleu3']} / "
          f"{tested['bleu4']}, CIDEr {tested['cider']}, METEOR {tested.get('meteor')}", flush=True)
    return {"row": name, "overrides": overrides, "command": command, "threads": threads, "budget_minutes": minutes,
            "train_minutes": round(summary["train_time_s"] / 60, 2), "wall_minutes": round(wall / 60, 2),
            "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
            "parameters": summary["parameters"], "precision": summary["precision"], "clock": clock.report(),
            "dev_greedy_at_best_epoch": {k: round(v, 4) for k, v in summary["valid"].items()},
            "dev_by_beam": by_beam, "beam_chosen_on_dev": chosen, "test": tested,
            "curve": [{k: r[k] for k in ("epoch", "train_loss", "valid_loss", "valid_bleu4", "valid_cider",
                                         "train_time_s") if k in r} for r in records],
            "examples": [{"image": str(e.image.image.name), "caption": c, "references": list(e.image.captions)}
                         for e, c in list(zip(test_examples, captions))[:8]],
            "bundle": str(run_dir / "bundle")}


def plot_curves(rows: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for row in rows:
        minutes = [r["train_time_s"] / 60 for r in row["curve"]]
        a.plot(minutes, [r["valid_loss"] for r in row["curve"]], marker="o", label=row["row"])
        b.plot(minutes, [r.get("valid_bleu4", float("nan")) for r in row["curve"]], marker="o", label=row["row"])
    b.axhline(TARGET_BLEU4, color="grey", linestyle="--", label=f"target {TARGET_BLEU4} (test, chosen beam)")
    a.set(xlabel="training minutes", ylabel="dev loss (nats / word)", title="Flickr8k: dev loss")
    b.set(xlabel="training minutes", ylabel="dev BLEU-4 (greedy)", title="Flickr8k: dev BLEU-4")
    a.legend()
    b.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def plot_examples(bundle: Path, images: list[Path], png: Path, beam: int) -> None:
    """Each photo with its caption and, per word, the attention over the grid drawn on the photo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    import rnnlab

    predictor = rnnlab.load(bundle)
    preds = predictor.predict([str(p) for p in images], beam=beam, attention=True)
    words = max(len(p["target_tokens"]) for p in preds)
    cols = min(words, 12) + 1
    fig, axes = plt.subplots(len(preds), cols, figsize=(1.7 * cols, 2.5 * len(preds)), squeeze=False)
    for ax_row, path, pred in zip(axes, images, preds):
        photo = np.asarray(Image.open(path).convert("RGB").resize((224, 224)))
        rows_, cols_ = pred["image"]["grid"]
        ax_row[0].imshow(photo)
        ax_row[0].set_title("photo", fontsize=8)
        for k, ax in enumerate(ax_row[1:]):
            ax.axis("off")
            if k >= len(pred["target_tokens"]):
                continue
            weights = np.asarray(pred["attention"][k], dtype=np.float32).reshape(rows_, cols_)
            heat = np.asarray(Image.fromarray((255 * weights / max(weights.max(), 1e-9)).astype(np.uint8))
                              .resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255.0
            ax.imshow(photo)
            ax.imshow(heat, cmap="gray", alpha=0.6)
            ax.set_title(pred["target_tokens"][k], fontsize=8)
        ax_row[0].axis("off")
        ax_row[0].text(0, 250, pred["answer"]["label"], fontsize=8, va="top")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=45.0, help="training-time budget per row (default 45)")
    p.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS))
    p.add_argument("--quick", action="store_true", help="60 training photos, 0.5 minute: a smoke run")
    p.add_argument("--runs", default="runs", help="where the run directories and the feature cache go")
    p.add_argument("--cache", default="", help="feature cache (default: a fresh RUNS/flickr8k-features, timed)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "flickr8k.json"))
    p.add_argument("--merge", action="store_true", help="keep the rows already in --out that this run does not redo")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("overrides", nargs="*", help="config overrides for every row")
    args = p.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/caption.py " + " ".join(shlex.quote(a) for a in given)
    from rnnlab.config import load_config

    runs = Path(args.runs)
    minutes = 0.5 if args.quick else args.minutes
    base = (quick_data(runs / "flickr8k-quick-data") + ["model.hidden_size=64", "model.project_size=64",
                                                        "model.embed_size=32"] if args.quick else [])
    base += list(args.overrides)
    cache = Path(args.cache) if args.cache else runs / "flickr8k-features"
    if not args.cache and cache.exists():
        shutil.rmtree(cache)  # a fresh cache: the extraction is timed, not read back
    torch.set_num_threads(args.threads)
    features = extract_features(load_config(CONFIG, base), cache)
    print(f"features: {features['images']} photos in {features['seconds']} s ({features['images_per_s']} /s)",
          flush=True)
    rows = [run_row(name, base + ROWS[name], minutes, runs, command, args.threads, args.quick) for name in args.rows]
    out = Path(args.out)
    if args.merge and out.exists():
        old = json.loads(out.read_text())
        done = {r["row"] for r in rows}
        rows = [r for r in old.get("rows", []) if r["row"] not in done] + rows
        features = old.get("feature_extraction", features) if "attention" not in done else features
    main_row = next((r for r in rows if r["row"] == "attention"), rows[0])
    total = features["seconds"] / 60 + main_row["wall_minutes"]
    targets = [benchcommon.target("test_bleu4", main_row["test"]["bleu4"], TARGET_BLEU4, ">=", row=main_row["row"]),
               benchcommon.target("test_cider", main_row["test"]["cider"], TARGET_CIDER, ">=", row=main_row["row"]),
               benchcommon.target("minutes_features_plus_training", round(total, 2), TARGET_MINUTES, "<=",
                                  row=main_row["row"], features_minutes=round(features["seconds"] / 60, 2),
                                  training_wall_minutes=main_row["wall_minutes"])]
    result = {"benchmark": "flickr8k", "command": command, "quick": args.quick, "budget_minutes": minutes,
              "machine": lmbench.machine(), "protocol": PROTOCOL, "anchors": ANCHORS,
              "feature_extraction": features, "rows": rows, "targets": targets}
    out.parent.mkdir(parents=True, exist_ok=True)
    lmbench.write_json(out, result)
    plot_curves(rows, out.with_suffix(".png"))
    from rnnlab.readers.paths import resolve_path

    images = [resolve_path("$RNNLAB_DATA/flickr8k/images") / e["image"] for e in main_row["examples"][:4]]
    plot_examples(Path(main_row["bundle"]), images, out.with_name(out.stem + "_examples.png"),
                  main_row["beam_chosen_on_dev"])
    print(benchcommon.describe(targets))
    print(f"wrote {out}, {out.with_suffix('.png')} and {out.with_name(out.stem + '_examples.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
