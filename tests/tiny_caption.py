"""A toy captioning set for the tests: photos the tests draw themselves (a coloured shape on a plain ground) with
the caption that says what is drawn. Eight photos, each with two phrasings of its caption; a tiny decoder over the
real CNN's features learns them exactly in seconds (tests/tasks/test_caption.py)."""
from __future__ import annotations

from pathlib import Path

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (240, 220, 30)}
SHAPES = ("square", "circle")


def draw(colour: str, shape: str, size: int = 96, ground=(245, 245, 245)):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), ground)
    box = (size // 5, size // 5, size - size // 5, size - size // 5)
    pen = ImageDraw.Draw(image)
    (pen.rectangle if shape == "square" else pen.ellipse)(box, fill=COLOURS[colour])
    return image


def toy_photos() -> list[tuple[str, str, list[str]]]:
    """(file name, colour, captions) for every colour x shape."""
    return [(f"{c}_{s}.png", c, [f"a {c} {s} on white", f"there is a {c} {s}"]) for c in COLOURS for s in SHAPES]


def write_photos(folder: Path, kind: str = "csv") -> Path:
    """The photos as PNG files in folder/images and a caption table (csv or tsv) beside them; returns the table."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, colour, captions in toy_photos():
        draw(colour, name.split("_")[1][:-4]).save(folder / "images" / name)
        rows += [(f"images/{name}", c) for c in captions]
    sep = "\t" if kind == "tsv" else ","
    table = folder / f"captions.{kind}"
    table.write_text(f"image{sep}caption\n" + "".join(f"{i}{sep}{c}\n" for i, c in rows))
    return table


def toy_config(folder: Path, **model) -> dict:
    table = write_photos(folder / "data")
    return {"task": "caption", "run_dir": str(folder / "run"),
            "data": {"train": str(table), "valid": str(table), "min_count": 1},
            "model": {"cell": "lstm", "embed_size": 32, "hidden_size": 64, "project_size": 64, "dropout": 0.0,
                      "beam": 3, **model},
            "train": {"epochs": 40, "batch_size": 8, "lr": 0.01, "seed": 0, "warmup_steps": 0, "threads": 1,
                      "progress": False, "weight_decay": 0.0}}
