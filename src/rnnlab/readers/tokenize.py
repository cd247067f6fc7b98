"""Tokenisers for translation: text <-> pieces <-> ids, learned from the training split alone.

    SubwordTokenizer  sentencepiece (Kudo & Richardson 2018): the unigram LM (Kudo 2018) or BPE (Sennrich
                      et al. 2016) over raw text, so rare words are spelled from pieces instead of <unk>
    WordTokenizer     words and single punctuation marks, with OpenNMT-style joiners so decoding is exact;
                      unseen words are <unk> (the baseline a subword vocabulary has to beat on valid)

Both have one interface, so a task picks "word" or "subword" by config (`TOKENIZERS[kind]`):

    encode(text) -> pieces       ids(text) -> ids        pieces(ids) -> pieces      decode(pieces) -> text
    normalize(text): what decode(encode(text)) gives     to_json() / from_json(d)   len(): vocabulary size
    pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3       (the same ids in both, so the model code is shared)

Normalisation, shared by both: Unicode NFKC, optional lowercasing, whitespace collapsed to single
spaces. decode(encode(x)) == normalize(x) for every string: text is never lost at the piece level.
Through ids it can be: an unseen piece becomes <unk>, which decodes to "⁇" (sentencepiece's surface
for it, used by both so a hypothesis scores the same whichever tokeniser made it). Nothing raises on
unknown words or characters.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
import unicodedata
from typing import Any, Iterable

import sentencepiece as spm

from rnnlab.errors import UserError
from rnnlab.vocab import Vocab

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
UNK_SURFACE = "\u2047"  # ⁇: how an <unk> id reads in decoded text
MODEL_TYPES = ("unigram", "bpe")
SUBWORD_FORMAT = "rnnlab.subword/1"
WORD_FORMAT = "rnnlab.words/1"


def normalize_text(text: str, lowercase: bool) -> str:
    """NFKC (full-width letters, ligatures, odd spaces -> their plain forms), then lowercase, then single spaces."""
    text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    return " ".join(text.split())


# ---------------------------------------------------------------- subwords (sentencepiece)


class SubwordTokenizer:
    """A sentencepiece model trained in memory and kept as its serialized bytes.

    The model is a protobuf message (pieces, scores, normalizer settings): data, not code. Loading it
    parses a fixed schema and runs nothing, so it may sit in a bundle as base64 text inside JSON.
    """

    kind = "subword"
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, model: bytes, model_type: str, lowercase: bool):
        self.model, self.model_type, self.lowercase = bytes(model), model_type, bool(lowercase)
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self.model)
        except (RuntimeError, OSError, TypeError) as e:
            raise ValueError(f"not a sentencepiece model ({e})") from None
        specials = [self._sp.id_to_piece(i) for i in range(min(4, self._sp.get_piece_size()))]
        if specials != [PAD, UNK, BOS, EOS]:
            raise ValueError(f"the model's first pieces must be {[PAD, UNK, BOS, EOS]}, got {specials}")

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, model_type: str = "unigram", lowercase: bool = False,
              seed: int = 0, character_coverage: float = 1.0, hard_limit: bool = True) -> "SubwordTokenizer":
        """Learn `vocab_size` pieces (the 4 specials included) from `texts`, the training split's sentences.

        Deterministic: one thread (the EM statistics are summed in one order) and every sentence used in the
        given order (no sampling, no shuffling): the same texts give the same model bytes in any process.
        With those settings no training path draws random numbers, so `seed` does not change the result
        today; it seeds sentencepiece's generator for any version that does. That generator is process-wide
        in the C++ library, so training also reseeds later sampled encodings (rnnlab does not sample them).
        `character_coverage` 1.0 keeps every character seen (sentencepiece's advice for small alphabets
        such as German and English); lower it to send rare characters to <unk>. `hard_limit` False makes
        vocab_size a ceiling (sentencepiece's hard_vocab_limit): a text too small for that many pieces gets
        as many as it can make, instead of the UserError saying how many that is.
        """
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        if not isinstance(vocab_size, int) or vocab_size < 5:
            raise ValueError(f"vocab_size must be an integer >= 5 (4 special pieces and at least one more), "
                             f"got {vocab_size!r}")
        sentences = [s for s in (cls._prepare(t, lowercase) for t in texts) if s]
        if not sentences:
            raise UserError("cannot train a subword vocabulary: the training text is empty")
        spm.set_random_generator_seed(seed)
        model = io.BytesIO()  # trained in memory: nothing is written to disk
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
                model_type=model_type, character_coverage=character_coverage,
                # our normalize_text already did NFKC and spacing; "identity" also keeps the model small
                # (nmt_nfkc would embed a ~240 KB character map in every bundle)
                normalization_rule_name="identity",
                pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
                unk_surface=f" {UNK_SURFACE} ",
                num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2,
                hard_vocab_limit=hard_limit)
        except RuntimeError as e:
            most = re.search(r"Please set it to a value <= (\d+)", str(e))
            if most:
                raise UserError(f"subword vocab_size {vocab_size} is too large for the training text: "
                                f"{model_type} can make at most {most.group(1)} pieces; lower vocab_size") from None
            raise UserError(f"sentencepiece could not train a {model_type} vocabulary: {e}") from None
        return cls(model.getvalue(), model_type, lowercase)

    @staticmethod
    def _prepare(text: str, lowercase: bool) -> str:
        # U+2581 (▁) is sentencepiece's word-boundary mark: in the input it would decode as a space, so it
        # is one already
        return normalize_text(text.replace("\u2581", " "), lowercase)

    def normalize(self, text: str) -> str:
        return self._prepare(text, self.lowercase)

    def encode(self, text: str) -> list[str]:
        """Pieces, word starts marked with ▁: "A man." -> ["▁A", "▁man", "."]. Unseen characters stay as pieces."""
        return self._sp.encode(self.normalize(text), out_type=str)

    def ids(self, text: str) -> list[int]:
        return self._sp.encode(self.normalize(text))

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self._sp.id_to_piece(int(i)) for i in ids]

    def decode(self, pieces: Iterable[str]) -> str:
        """Detokenised text: pad, bos and eos dropped, <unk> shown as ⁇, single spaces."""
        return " ".join(self._sp.decode_pieces(list(pieces)).split())

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubwordTokenizer) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"SubwordTokenizer({self.model_type}, {len(self)} pieces, lowercase={self.lowercase})"

    def to_json(self) -> dict[str, Any]:
        return {"format": SUBWORD_FORMAT, "model_type": self.model_type, "lowercase": self.lowercase,
                "vocab_size": len(self), "model": base64.b64encode(self.model).decode("ascii")}

    @classmethod
    def from_json(cls, data: Any) -> "SubwordTokenizer":
        """Inverse of to_json. Raises ValueError on anything malformed (callers add the file name)."""
        if not isinstance(data, dict) or data.get("format") != SUBWORD_FORMAT:
            raise ValueError(f"not a subword tokenizer (expected format {SUBWORD_FORMAT!r})")
        if data.get("model_type") not in MODEL_TYPES or not isinstance(data.get("lowercase"), bool):
            raise ValueError(f"'model_type' must be one of {MODEL_TYPES} and 'lowercase' a boolean")
        if not isinstance(data.get("model"), str):
            raise ValueError("'model' must be the sentencepiece model as base64 text")
        try:
            model = base64.b64decode(data["model"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'model' is not valid base64") from None
        tokenizer = cls(model, data["model_type"], data["lowercase"])
        if data.get("vocab_size") != len(tokenizer):
            raise ValueError(f"'vocab_size' is {data.get('vocab_size')!r} but the model has {len(tokenizer)} pieces")
        return tokenizer


# ---------------------------------------------------------------- words and punctuation

# A joiner marks a piece that was written against its neighbour with no space between (OpenNMT
# Tokenizer's `joiner_annotate`, Klein et al. 2017): "(a man)." -> "(￭" "a" "man" "￭)" "￭.". It goes on
# the punctuation side, so words keep one vocabulary entry each. NFKC maps U+FFED to U+25A0, so
# normalised input never holds the joiner itself and decoding is unambiguous.
JOINER = "\uffed"
_TOKEN = re.compile(r"\w+|[^\w\s]")  # a run of word characters, or one other non-space character
_WORD = re.compile(r"\w")


def word_pieces(text: str, lowercase: bool = False) -> list[str]:
    """Split normalised text at spaces and around every punctuation mark, adding joiners where no space was."""
    out: list[str] = []
    for chunk in normalize_text(text, lowercase).split(" "):
        tokens = _TOKEN.findall(chunk)
        for k in range(1, len(tokens)):
            # two word runs are never adjacent (runs are maximal), so one side is punctuation
            if not _WORD.match(tokens[k]):
                tokens[k] = JOINER + tokens[k]
            else:
                tokens[k - 1] = tokens[k - 1] + JOINER
        out.extend(tokens)
    return out


class WordTokenizer:
    """Words and punctuation marks over a `Vocab` built with min_count / max size from the training text."""

    kind = "word"
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, vocab: Vocab, lowercase: bool):
        if (vocab.pad, vocab.unk, vocab.specials) != (PAD, UNK, (BOS, EOS)):
            raise ValueError(f"a word tokenizer's vocabulary needs pad={PAD!r}, unk={UNK!r} and specials "
                             f"{(BOS, EOS)} (ids 0-3)")
        self.vocab, self.lowercase = vocab, bool(lowercase)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None, lowercase: bool = False,
              min_count: int = 1) -> "WordTokenizer":
        """Keep pieces seen >= min_count times, at most vocab_size (specials included; None: all)."""
        vocab = Vocab.build((word_pieces(t, lowercase) for t in texts), min_count=min_count, max_size=vocab_size,
                            pad=PAD, unk=UNK, specials=(BOS, EOS))
        return cls(vocab, lowercase)

    def normalize(self, text: str) -> str:
        return normalize_text(text, self.lowercase)

    def encode(self, text: str) -> list[str]:
        return word_pieces(text, self.lowercase)

    def ids(self, text: str) -> list[int]:
        return self.vocab.encode(self.encode(text))

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return self.vocab.decode(ids)

    def decode(self, pieces: Iterable[str]) -> str:
        """Detokenised text: a space between pieces unless a joiner says otherwise; pad, bos, eos dropped."""
        out: list[str] = []
        glued = True  # no space before the first piece
        for piece in pieces:
            if piece in (PAD, BOS, EOS):
                continue
            if piece == UNK:
                piece = UNK_SURFACE
            lead = piece.startswith(JOINER)
            trail = len(piece) > 1 and piece.endswith(JOINER)
            if out and not (lead or glued):
                out.append(" ")
            out.append(piece[int(lead): len(piece) - int(trail)])
            glued = trail
        return "".join(out)

    def __len__(self) -> int:
        return len(self.vocab)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordTokenizer) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"WordTokenizer({len(self)} pieces, lowercase={self.lowercase})"

    def to_json(self) -> dict[str, Any]:
        return {"format": WORD_FORMAT, "lowercase": self.lowercase, "vocab": self.vocab.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> "WordTokenizer":
        """Inverse of to_json. Raises ValueError on anything malformed (callers add the file name)."""
        if not isinstance(data, dict) or data.get("format") != WORD_FORMAT:
            raise ValueError(f"not a word tokenizer (expected format {WORD_FORMAT!r})")
        if not isinstance(data.get("lowercase"), bool):
            raise ValueError("'lowercase' must be a boolean")
        return cls(Vocab.from_json(data.get("vocab")), data["lowercase"])


TOKENIZERS = {"word": WordTokenizer, "subword": SubwordTokenizer}


def tokenizer_from_json(data: Any) -> WordTokenizer | SubwordTokenizer:
    """Either kind, told apart by its `format`."""
    fmt = data.get("format") if isinstance(data, dict) else None
    for cls, expected in ((WordTokenizer, WORD_FORMAT), (SubwordTokenizer, SUBWORD_FORMAT)):
        if fmt == expected:
            return cls.from_json(data)
    raise ValueError(f"not a tokenizer (expected format {WORD_FORMAT!r} or {SUBWORD_FORMAT!r}, got {fmt!r})")
