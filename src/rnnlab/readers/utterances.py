"""Utterances with an intent and optional slot tags: the ATIS/SNIPS directory layout, CSV and JSONL.

One utterance is a list of tokens, its intent, and (optionally) one BIO slot tag per token:

    tokens  play  the  new  album  by  adele     on  spotify
    tags    O     O    O    O      O   B-artist  O   B-service
    intent  PlayMusic

Three layouts hold the same thing:

- a directory with `seq.in` (space-separated tokens), `seq.out` (space-separated tags, optional)
  and `label` (intent), one utterance per line, the three files aligned line by line
  (the layout of ATIS and SNIPS as distributed with Slot-Gated, Goo et al. 2018);
- a CSV file with a header and columns `text`, `intent` and, optionally, `tags`
  (space-separated, one per whitespace-separated token of `text`);
- a JSONL file, one object per line with the same keys (`tags` may also be a list).

Tokens are whatever `str.split()` gives: the data decides the tokenisation, the reader does not
re-tokenise. Every problem a user can cause raises `DataError` naming the file and the 1-based line
(for CSV, the line where the record starts).

Tags must be IOB2: `O`, `B-type` or `I-type`, and `I-type` only right after `B-type` or `I-type`.
The CRF's transition constraints and seqeval's strict mode both assume that form, so we reject
anything else at the door instead of scoring it quietly in a different way.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.files import read_text
from rnnlab.readers.lines import json_objects, text_lines

SEQ_FILES = ("seq.in", "seq.out", "label")


@dataclass(frozen=True)
class Utterance:
    tokens: tuple[str, ...]
    intent: str
    tags: tuple[str, ...] | None = None  # one per token, IOB2; None when the data has no slots


# ---------------------------------------------------------------- low-level checks


def check_tags(tags: list[str], n_tokens: int, path: Path, line: int) -> tuple[str, ...]:
    """Validate one utterance's tags: count matches the tokens, each is IOB2, I- continues its type."""
    if len(tags) != n_tokens:
        raise DataError(path, line, f"{n_tokens} tokens but {len(tags)} tags; give exactly one tag per token")
    previous = "O"
    for i, tag in enumerate(tags):
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise DataError(path, line, f"tag {i + 1} {tag!r} is not BIO: use O, B-<type> or I-<type>")
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            raise DataError(path, line, f"tag {i + 1} {tag!r} follows {previous!r}: an I-<type> tag must "
                                        f"continue B-{tag[2:]} or I-{tag[2:]} (IOB2)")
        previous = tag
    return tuple(tags)


def _utterance(text: str, intent: str, tags, path: Path, line: int) -> Utterance:
    tokens = text.split()
    if not tokens:
        raise DataError(path, line, "empty utterance: every line needs at least one token")
    intent = intent.strip()
    if not intent:
        raise DataError(path, line, "empty intent label")
    if tags is not None:
        tags = check_tags(tags.split() if isinstance(tags, str) else list(tags), len(tokens), path, line)
    return Utterance(tuple(tokens), intent, tags)


# ---------------------------------------------------------------- readers


def read_seq_dir(directory: str | Path) -> list[Utterance]:
    """Read `seq.in`, `label` and (if present) `seq.out` from one split directory."""
    directory = Path(directory)
    if not (directory / "seq.in").is_file():
        raise DataError(directory, None, "expected a directory with seq.in, label and (optionally) seq.out")
    texts = text_lines(directory / "seq.in")
    labels = text_lines(directory / "label")
    has_tags = (directory / "seq.out").is_file()
    tag_lines = text_lines(directory / "seq.out") if has_tags else [None] * len(texts)
    for name, other in (("label", labels), ("seq.out", tag_lines)):
        if len(other) != len(texts):
            raise DataError(directory / name, min(len(other), len(texts)) + 1,
                            f"has {len(other)} lines but seq.in has {len(texts)}; the files must align line by line")
    out = []
    for line, (text, label, tags) in enumerate(zip(texts, labels, tag_lines), start=1):
        # each problem is reported in the file that holds it: tokens in seq.in, intents in label, tags in seq.out
        tokens = text.split()
        if not tokens:
            raise DataError(directory / "seq.in", line, "empty utterance: every line needs at least one token")
        if not label.strip():
            raise DataError(directory / "label", line, "empty intent label")
        if tags is not None:
            tags = check_tags(tags.split(), len(tokens), directory / "seq.out", line)
        out.append(Utterance(tuple(tokens), label.strip(), tags))
    return out


def read_csv(path: str | Path) -> list[Utterance]:
    """Read a CSV file with a header naming `text`, `intent` and optionally `tags`."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in ("text", "intent") if c not in columns]
    if missing:
        raise DataError(path, 1, f"missing column(s) {', '.join(missing)} in the header {columns}; "
                                 "expected text,intent[,tags]")
    has_tags = "tags" in columns
    out = []
    line = 2  # the record after the header starts on line 2
    try:
        for row in reader:
            if None in row:  # more fields than the header names
                raise DataError(path, line, f"{len(columns) + len(row[None])} fields but the header has {len(columns)}")
            if row["intent"] is None:
                raise DataError(path, line, f"too few fields: expected {len(columns)} ({','.join(columns)})")
            out.append(_utterance(row["text"], row["intent"], row["tags"] if has_tags else None, path, line))
            line = reader.line_num + 1
    except csv.Error as e:
        raise DataError(path, reader.line_num, f"malformed CSV: {e}") from None
    return out


def read_jsonl(path: str | Path) -> list[Utterance]:
    """Read a JSONL file: one object per line with `text`, `intent` and optionally `tags`."""
    path = Path(path)
    out = []
    for i, obj in json_objects(path, "a JSON object with keys text, intent[, tags]", required=("text", "intent")):
        text, intent, tags = obj["text"], obj["intent"], obj.get("tags")
        if not isinstance(text, str) or not isinstance(intent, str):
            raise DataError(path, i, "text and intent must be strings")
        if tags is not None and not (isinstance(tags, str) or
                                     (isinstance(tags, list) and all(isinstance(t, str) for t in tags))):
            raise DataError(path, i, "tags must be a space-separated string or a list of strings")
        out.append(_utterance(text, intent, tags, path, i))
    return out


def read_utterances(path: str | Path) -> list[Utterance]:
    """Read any of the three layouts, chosen by what `path` is: a directory, `.csv`, `.jsonl`/`.json`."""
    path = Path(path)
    if path.is_dir():
        data = read_seq_dir(path)
    elif path.suffix.lower() == ".csv":
        data = read_csv(path)
    elif path.suffix.lower() in (".jsonl", ".json"):
        data = read_jsonl(path)
    elif not path.exists():
        raise DataError(path, None, "not found")
    else:
        raise DataError(path, None, "unknown format: give a seq.in/seq.out/label directory, a .csv or a .jsonl file")
    if not data:
        raise DataError(path, None, "no utterances")
    return data


# ---------------------------------------------------------------- writers (conversion, tests)


def write_seq_dir(directory: str | Path, data: list[Utterance]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "seq.in").write_text("".join(" ".join(u.tokens) + "\n" for u in data), encoding="utf-8")
    (directory / "label").write_text("".join(u.intent + "\n" for u in data), encoding="utf-8")
    if data and all(u.tags is not None for u in data):
        (directory / "seq.out").write_text("".join(" ".join(u.tags) + "\n" for u in data), encoding="utf-8")


def write_csv(path: str | Path, data: list[Utterance]) -> None:
    has_tags = bool(data) and all(u.tags is not None for u in data)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent", "tags"] if has_tags else ["text", "intent"])
        for u in data:
            row = [" ".join(u.tokens), u.intent]
            w.writerow(row + [" ".join(u.tags)] if has_tags else row)


def write_jsonl(path: str | Path, data: list[Utterance]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for u in data:
            obj = {"text": " ".join(u.tokens), "intent": u.intent}
            if u.tags is not None:
                obj["tags"] = " ".join(u.tags)
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
