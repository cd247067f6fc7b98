"""Images and their captions: photos as PIL images, and the files that say which caption belongs to which photo.

    read_image / image_from_bytes   a JPEG, PNG (or any format Pillow reads) file or upload -> a decoded PIL image
    read_caption_table              a CSV / TSV whose header names `image` and `caption`: one row per caption,
                                    rows of one image gathered (any number of captions each)
    read_token_captions             Flickr8k's `Flickr8k.token.txt` (`IMAGE#N<TAB>caption`) for the images a split
                                    list names (`Flickr_8k.trainImages.txt`: one image name a line)

Both layouts give `CaptionedImage`s: the image's path, its captions, and where it was named (file and line).
Image paths are relative to `images` when given, else to the folder of the file that names them. Every problem a
user can cause is a one-line DataError naming the file and the line: a missing header column, an empty image name
or caption, an image that is not there, a split list naming an image that has no caption, text that is not UTF-8;
and for the images themselves: not an image, truncated, empty, too many pixels.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.files import read_bytes, read_text
from rnnlab.readers.lines import split_lines, table_rows

MAX_PIXELS = 64_000_000  # a photo larger than this (e.g. 8000 x 8000) is refused, not decoded into gigabytes


@dataclass(frozen=True)
class CaptionedImage:
    image: Path  # the image file
    captions: tuple[str, ...]  # one or more reference captions (none for a prediction input)
    line: int  # 1-based line of the file that first named the image
    source: Path  # that file


def _short(e: Exception) -> str:
    return " ".join(str(e).split()).rstrip(".") or type(e).__name__


def image_from_bytes(data: bytes, name: str):
    """The bytes of an image file or upload -> a decoded PIL image (`load()`ed, so a truncated file fails here,
    not later); DataError naming `name` for anything that is not a whole image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DataError(name, None, "empty file: expected an image (JPEG or PNG)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise DataError(name, None, f"image of {width} x {height} pixels is larger than the "
                                            f"{MAX_PIXELS // 1_000_000} megapixels rnnlab reads")
            if width == 0 or height == 0:
                raise DataError(name, None, "image has no pixels")
            probe.load()
            image = probe.copy()
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(name, None, "not an image Pillow can read (expected JPEG or PNG)") from None
    except Image.DecompressionBombError as e:
        raise DataError(name, None, f"image too large: {_short(e)}") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data inside a known format
        raise DataError(name, None, f"broken image: {_short(e)}") from None
    return image


def read_image(path: str | Path):
    """An image file -> a decoded PIL image; DataError naming the file (missing, a folder, not an image, broken)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, "is a directory: give an image file (JPEG or PNG)")
    return image_from_bytes(read_bytes(path), str(path))


def _image_path(raw: str, base: Path, where: Path, line: int, check_files: bool) -> Path:
    if not raw:
        raise DataError(where, line, "empty image name")
    path = Path(raw)
    if not path.is_absolute():
        path = base / path
    if check_files and not path.is_file():
        what = "is a directory, not an image" if path.is_dir() else "not found"
        raise DataError(where, line, f"image {path} ({raw!r}) {what}")
    return path


def read_caption_table(path: str | Path, images: str | Path | None = None, *,
                       check_files: bool = True) -> list[CaptionedImage]:
    """Every image of a `.tsv` (tab-separated, quotes literal: captions quote people) or CSV (the csv module's
    quoting) table whose header names the columns `image` and `caption` (any order and case; others ignored).
    One row per caption; the rows of one image need not be adjacent, and its captions keep their order. Blank lines
    are skipped; line numbers are the file's own. Image paths are relative to `images`, else the table's folder."""
    path = Path(path)
    base = Path(images) if images else path.parent
    gathered: dict[Path, tuple[int, list[str]]] = {}
    for line, row in table_rows(path, ("image", "caption"), "table", "captions"):
        caption = " ".join(row["caption"].split())
        image = _image_path(row["image"].strip(), base, path, line, check_files)
        if not caption:
            raise DataError(path, line, f"empty caption for {row['image'].strip()}")
        gathered.setdefault(image, (line, []))[1].append(caption)
    return [CaptionedImage(image, tuple(caps), line, path) for image, (line, caps) in gathered.items()]


def read_token_captions(tokens: str | Path, split_list: str | Path, images: str | Path | None = None, *,
                        check_files: bool = True) -> list[CaptionedImage]:
    """The images `split_list` names (one file name a line, blank lines skipped), each with its captions from the
    Flickr8k token file `tokens` (`NAME#N<TAB>caption` per line, N the caption's number). Image paths are relative
    to `images`, else to the token file's folder + "images". A split naming an image with no caption, or naming it
    twice, is an error naming the split list's line; a malformed token line names the token file's line."""
    tokens, split_list = Path(tokens), Path(split_list)
    captions: dict[str, list[str]] = {}
    for i, raw in enumerate(split_lines(read_text(tokens)), start=1):
        if not raw.strip():
            continue
        key, tab, caption = raw.partition("\t")
        name, hash_, number = key.strip().rpartition("#")
        if not tab or not hash_ or not name or not number.strip().isdigit():
            raise DataError(tokens, i, "expected IMAGE#N<TAB>caption (e.g. 1000268201_693b08cb0e.jpg#0<TAB>A child "
                                       "in a pink dress ...)")
        caption = " ".join(caption.split())
        if not caption:
            raise DataError(tokens, i, f"empty caption for {name}")
        captions.setdefault(name, []).append(caption)
    base = Path(images) if images else tokens.parent / "images"
    out, seen = [], {}
    for i, raw in enumerate(split_lines(read_text(split_list)), start=1):
        name = raw.strip()
        if not name:
            continue
        if name in seen:
            raise DataError(split_list, i, f"image {name} is listed twice (first on line {seen[name]})")
        seen[name] = i
        if name not in captions:
            raise DataError(split_list, i, f"image {name} has no caption in {tokens}")
        out.append(CaptionedImage(_image_path(name, base, split_list, i, check_files), tuple(captions[name]),
                                  i, split_list))
    if not out:
        raise DataError(split_list, None, "no image names: expected one image file name a line")
    return out
