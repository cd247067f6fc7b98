"""readers.images: photos and caption files, every user mistake one DataError naming the file and the line."""
from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rnnlab.errors import DataError
from rnnlab.readers.images import image_from_bytes, read_caption_table, read_image, read_token_captions


def _png(path: Path, size=(8, 6), mode="RGB") -> Path:
    Image.new(mode, size).save(path)
    return path


def _jpeg_bytes(size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buf, format="JPEG")
    return buf.getvalue()


def test_images_of_any_mode_and_format_decode(tmp_path):
    assert image_from_bytes(_jpeg_bytes(), "a.jpg").size == (40, 30)
    for mode in ("L", "P", "RGBA", "1", "I;16"):
        assert read_image(_png(tmp_path / f"{mode.replace(';', '')}.png", mode=mode)).size == (8, 6)


@pytest.mark.parametrize("data, problem", [
    (b"", "empty file"),
    (b"hello, not a photo\n", "not an image"),
    (_jpeg_bytes()[:300], "broken image"),  # truncated inside the JPEG
])
def test_what_is_not_a_whole_image_is_one_line_naming_it(data, problem):
    with pytest.raises(DataError) as e:
        image_from_bytes(data, "upload.jpg")
    assert str(e.value).startswith("upload.jpg: ") and problem in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(DataError, match="is a directory"):
        read_image(tmp_path)


def test_a_caption_table_gathers_the_rows_of_each_image(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    table = tmp_path / "caps.csv"
    table.write_text('caption,image,source\n"a dog, running",a.png,x\n\na cat,b.png,y\nanother dog,a.png,z\n')
    items = read_caption_table(table)
    assert [(i.image.name, i.captions, i.line) for i in items] == [
        ("a.png", ("a dog, running", "another dog"), 2), ("b.png", ("a cat",), 4)]
    tsv = tmp_path / "caps.tsv"
    tsv.write_text('image\tcaption\na.png\ta "quoted" dog\n')
    assert read_caption_table(tsv)[0].captions == ('a "quoted" dog',)


@pytest.mark.parametrize("text, line, problem", [
    ("", 1, "empty table"),
    ("img,caption\na.png,x\n", 1, "missing image"),
    ("image,caption\n", None, "no data rows"),
    ("image,caption\na.png\n", 2, "1 field but the header has 2"),
    ("image,caption\na.png, \n", 2, "empty caption for a.png"),
    ("image,caption\n,a dog\n", 2, "empty image name"),
    ("image,caption\na.png,ok\nmissing.png,a cat\n", 3, "not found"),
    ("image,caption\n\"a.png,x\n", 2, "1 field"),  # an unclosed quote runs to the end: one field
])
def test_caption_table_errors_name_file_and_line(tmp_path, text, line, problem):
    _png(tmp_path / "a.png")
    table = tmp_path / "caps.csv"
    table.write_text(text)
    with pytest.raises(DataError) as e:
        read_caption_table(table)
    assert e.value.path == str(table) and e.value.line == line and problem in e.value.problem


def test_flickr8k_token_file_and_split_lists(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("1.jpg", "2.jpg"):
        _png(tmp_path / "images" / name)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("1.jpg#0\tA dog .\n1.jpg#1\tA  brown dog .\n2.jpg#0\tA cat .\n")
    split = tmp_path / "train.txt"
    split.write_text("2.jpg\n\n1.jpg\n")
    items = read_token_captions(tokens, split)
    assert [(i.image.name, i.captions, i.line) for i in items] == [
        ("2.jpg", ("A cat .",), 1), ("1.jpg", ("A dog .", "A brown dog ."), 3)]
    split.write_text("1.jpg\n3.jpg\n")
    with pytest.raises(DataError, match=r"train.txt:2: image 3.jpg has no caption"):
        read_token_captions(tokens, split)
    split.write_text("1.jpg\n1.jpg\n")
    with pytest.raises(DataError, match=r"train.txt:2: image 1.jpg is listed twice \(first on line 1\)"):
        read_token_captions(tokens, split)
    tokens.write_text("1.jpg#0\tA dog .\n1.jpg A dog\n")
    with pytest.raises(DataError, match=r"tokens.txt:2: expected IMAGE#N<TAB>caption"):
        read_token_captions(tokens, split)
    tokens.write_text("1.jpg#0\tA dog .\n")
    split.write_text("\n")
    with pytest.raises(DataError, match="no image names"):
        read_token_captions(tokens, split)


_WORD = st.text(alphabet=string.ascii_letters + "éü'-", min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 2), st.lists(_WORD, min_size=1, max_size=6).map(" ".join)),
                     min_size=1, max_size=12),
       tsv=st.booleans())
def test_any_table_in_the_documented_format_reads_back(tmp_path, rows, tsv):
    """Whatever captions a user writes (commas and quotes in CSV, any letters), each image gets its own, in order."""
    import csv

    for k in range(3):
        _png(tmp_path / f"{k}.png")
    table = tmp_path / ("t.tsv" if tsv else "t.csv")
    with open(table, "w", newline="") as f:
        if tsv:
            f.write("image\tcaption\n" + "".join(f"{k}.png\t{c}\n" for k, c in rows))
        else:
            w = csv.writer(f)
            w.writerow(["image", "caption"])
            w.writerows([(f"{k}.png", c + ", too") for k, c in rows])
    got = {i.image.name: i.captions for i in read_caption_table(table)}
    want: dict[str, list[str]] = {}
    for k, c in rows:
        want.setdefault(f"{k}.png", []).append(c if tsv else c + ", too")
    assert got == {k: tuple(v) for k, v in want.items()}
