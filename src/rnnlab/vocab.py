"""A vocabulary: the map between tokens (words, characters, labels) and integer ids.

Saved in bundles as plain JSON (`to_json` / `from_json`), never pickled. Special tokens come first
so their ids are stable: `pad` (id 0 when present: padding positions in a batch) then `unk` (what
unseen tokens map to at prediction time), then any extra `specials` (e.g. "<bos>", "<eos>"), then
the ordinary tokens, most frequent first (ties broken alphabetically, so building is deterministic).

Label vocabularies (intents, tags) usually have neither pad nor unk: `Vocab(labels, pad=None, unk=None)`.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

FORMAT = "rnnlab.vocab/1"


class Vocab:
    """Tokens <-> ids. `stoi[token]` / `itos[id]`; `encode` maps unknown tokens to `unk` if it has one."""

    def __init__(self, tokens: Iterable[str], pad: str | None = "<pad>", unk: str | None = "<unk>",
                 specials: Iterable[str] = ()):
        self.pad, self.unk, self.specials = pad, unk, tuple(specials)
        head = [t for t in (pad, unk, *self.specials) if t is not None]
        self.itos: list[str] = list(head)
        seen = set(head)
        if len(seen) != len(head):
            raise ValueError(f"special tokens must be distinct, got {head}")
        for t in tokens:
            if not isinstance(t, str):
                raise TypeError(f"vocabulary tokens must be strings, got {t!r}")
            if t not in seen:  # specials and duplicates are skipped: ids stay unique
                seen.add(t)
                self.itos.append(t)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 1, max_size: int | None = None,
              pad: str | None = "<pad>", unk: str | None = "<unk>", specials: Iterable[str] = ()) -> "Vocab":
        """Count tokens over `sequences`; keep those seen >= min_count, at most max_size (specials included)."""
        return cls.from_counts(Counter(t for seq in sequences for t in seq), min_count, max_size, pad, unk, specials)

    @classmethod
    def from_counts(cls, counts: Counter, min_count: int = 1, max_size: int | None = None,
                    pad: str | None = "<pad>", unk: str | None = "<unk>", specials: Iterable[str] = ()) -> "Vocab":
        """`build` from token counts already made (most frequent first, ties alphabetical)."""
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            n_special = len([t for t in (pad, unk, *specials) if t is not None])
            ranked = ranked[: max(0, max_size - n_special)]
        return cls(ranked, pad=pad, unk=unk, specials=specials)

    # ids of the specials (None when absent)
    @property
    def pad_id(self) -> int | None:
        return None if self.pad is None else self.stoi[self.pad]

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, pad={self.pad!r}, unk={self.unk!r})"

    def index(self, token: str) -> int:
        """Id of `token`; the unk id if unseen; KeyError if unseen and there is no unk."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise KeyError(f"{token!r} is not in the vocabulary and it has no unknown token")
        return self.stoi[self.unk]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "pad": self.pad, "unk": self.unk, "specials": list(self.specials),
                "tokens": list(self.itos)}

    @classmethod
    def from_json(cls, data: Any) -> "Vocab":
        """Inverse of to_json. Raises ValueError on anything malformed (callers add the file name)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a vocabulary (expected format {FORMAT!r})")
        tokens, pad, unk, specials = data.get("tokens"), data.get("pad"), data.get("unk"), data.get("specials", [])
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("'tokens' must be a list of strings")
        if len(set(tokens)) != len(tokens):
            raise ValueError("'tokens' has duplicates")
        if not isinstance(specials, list) or not all(isinstance(t, str) for t in specials):
            raise ValueError("'specials' must be a list of strings")
        head = [t for t in (pad, unk, *specials) if t is not None]
        if any(t is not None and not isinstance(t, str) for t in (pad, unk)) or tokens[: len(head)] != head:
            raise ValueError("special tokens must be strings listed first in 'tokens'")
        return cls(tokens[len(head):], pad=pad, unk=unk, specials=specials)
