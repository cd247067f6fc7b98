"""Tokenisers on a tiny corpus: exact round trips, JSON round trips, determinism, no error on unknowns."""
import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import UserError
from rnnlab.readers.tokenize import (
    JOINER,
    TOKENIZERS,
    SubwordTokenizer,
    WordTokenizer,
    tokenizer_from_json,
    word_pieces,
)

CORPUS = [
    "Two young, White males are outside near many bushes.",
    "Several men in hard hats are operating a giant pulley system.",
    "A little girl climbing into a wooden playhouse.",
    "A man in a blue shirt is standing on a ladder cleaning windows.",
    "Two men are at the stove preparing food.",
    "A man in green holds a guitar while the other man observes his shirt.",
    "A man is smiling at a stuffed lion.",
    "A trendy girl talking on her cellphone while gliding slowly down the street.",
    "A woman with a large purse is walking by a gate.",
    "Boys dancing on poles in the middle of the night.",
    "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.",
] * 3

CONFIGS = [(kind, lc) for kind in ("unigram", "bpe", "word") for lc in (False, True)]


@functools.cache
def trained(kind: str, lowercase: bool):
    """One tokenizer per (kind, lowercase), trained once for the whole module (well under a second each)."""
    if kind == "word":
        return WordTokenizer.train(CORPUS, lowercase=lowercase, min_count=1)
    return SubwordTokenizer.train(CORPUS, vocab_size=100, model_type=kind, lowercase=lowercase, seed=1)


@pytest.fixture(params=CONFIGS, ids=lambda p: f"{p[0]}-{'lc' if p[1] else 'cased'}")
def tok(request):
    return trained(*request.param)


def test_specials_have_the_same_ids_in_every_kind(tok):
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.pieces([0, 1, 2, 3]) == ["<pad>", "<unk>", "<s>", "</s>"]


def test_normalised_text_round_trips(tok):
    x = "  A man   in a ｂｌｕｅ shirt,\tis (standing) on a ladder...  "
    expected = "A man in a blue shirt, is (standing) on a ladder..."  # NFKC, single spaces
    assert tok.normalize(x) == (expected.lower() if tok.lowercase else expected)
    assert tok.decode(tok.encode(x)) == tok.normalize(x)
    for line in CORPUS:
        assert tok.decode(tok.encode(line)) == tok.normalize(line)
        assert tok.decode(tok.pieces(tok.ids(line))) == tok.normalize(line)  # every piece is known


@settings(max_examples=100, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_round_trips_and_unknowns_never_raise(text):
    for tok in (trained(*c) for c in CONFIGS):
        pieces = tok.encode(text)
        assert tok.decode(pieces) == tok.normalize(text)
        ids = tok.ids(text)
        assert len(ids) == len(pieces) and all(0 <= i < len(tok) for i in ids)
        tok.decode(tok.pieces(ids))


def test_unknown_words_and_characters_become_unk(tok):
    text = "A zebra 😀 named ⁂ Ωmega"
    ids = tok.ids(text)
    assert tok.unk_id in ids
    assert tok.decode(tok.encode(text)) == tok.normalize(text)  # pieces keep the text
    decoded = tok.decode(tok.pieces(ids))  # ids lose what the vocabulary lacks: ⁇
    assert "⁇" in decoded and "😀" not in decoded
    assert tok.encode("") == [] and tok.ids(" \t ") == [] and tok.decode([]) == ""


def test_decode_drops_pad_bos_eos(tok):
    ids = [tok.bos_id] + tok.ids("A man is smiling.") + [tok.eos_id, tok.pad_id, tok.pad_id]
    assert tok.decode(tok.pieces(ids)) == tok.normalize("A man is smiling.")


def test_lowercase_folds_case(tok):
    same = tok.ids("A MAN") == tok.ids("a man")
    assert same == tok.lowercase


def test_json_round_trip_gives_identical_encodings(tok):
    data = json.loads(json.dumps(tok.to_json()))  # plain JSON: strings, numbers, booleans
    again = type(tok).from_json(data)
    assert again == tok and tokenizer_from_json(data) == tok and len(again) == len(tok)
    for line in CORPUS + ["Ein Hund 😀 läuft."]:
        assert again.encode(line) == tok.encode(line) and again.ids(line) == tok.ids(line)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_is_deterministic(model_type):
    a = SubwordTokenizer.train(CORPUS, 100, model_type=model_type, lowercase=False, seed=3)
    b = SubwordTokenizer.train(list(CORPUS), 100, model_type=model_type, lowercase=False, seed=3)
    assert a.model == b.model
    assert WordTokenizer.train(CORPUS).to_json() == WordTokenizer.train(list(CORPUS)).to_json()


def test_subword_vocab_size_is_exact_and_shared_pieces_are_subwords():
    tok = SubwordTokenizer.train(CORPUS, 100, model_type="bpe", seed=0)
    assert len(tok) == 100 and tok.to_json()["vocab_size"] == 100
    assert "".join(tok.encode("windows")).replace("\u2581", "") == "windows"
    assert tok.unk_id not in tok.ids("windows cleaning standing")  # spelled from pieces, not <unk>


def test_word_pieces_split_punctuation_with_joiners():
    J = JOINER
    assert word_pieces("Two young, White males (aged 3-4)...") == [
        "Two", "young", f"{J},", "White", "males", f"({J}", "aged", "3", f"{J}-{J}", "4", f"{J})", f"{J}.", f"{J}.",
        f"{J}."]
    assert word_pieces("Don't", lowercase=True) == ["don", f"{J}'{J}", "t"]
    assert word_pieces(f"a{J}b") == ["a", f"{J}■{J}", "b"]  # NFKC: the joiner cannot come from the input


def test_word_vocabulary_min_count_and_size():
    tok = WordTokenizer.train(CORPUS[:12], min_count=2)
    assert "man" in tok.vocab and "zebra" not in tok.vocab and "Spielhaus" not in tok.vocab  # seen once
    small = WordTokenizer.train(CORPUS, vocab_size=10)
    # most frequent first: every sentence ends in a full stop, then "a" (cased: "A" is another word)
    assert len(small) == 10 and small.vocab.itos[4:6] == [f"{JOINER}.", "a"]


def test_bad_arguments_and_too_large_vocabularies():
    with pytest.raises(ValueError, match="model_type"):
        SubwordTokenizer.train(CORPUS, 100, model_type="wordpiece")
    with pytest.raises(ValueError, match="vocab_size"):
        SubwordTokenizer.train(CORPUS, 4)
    with pytest.raises(UserError, match=r"vocab_size 5000 is too large .* at most \d+ pieces"):
        SubwordTokenizer.train(CORPUS, 5000)
    with pytest.raises(UserError, match="empty"):
        SubwordTokenizer.train(["", "  "], 100)


@pytest.mark.parametrize("kind", ["word", "unigram"])
def test_from_json_rejects_malformed(kind):
    good = trained(kind, False).to_json()
    cls = type(trained(kind, False))
    broken = [None, {**good, "format": "x"}, {**good, "lowercase": "no"}]
    if kind == "unigram":
        broken += [{**good, "model": "!!not base64!!"}, {**good, "model": "AAAA"}, {**good, "vocab_size": 7},
                   {**good, "model_type": "wordpiece"}]
    else:
        broken += [{**good, "vocab": {"format": "rnnlab.vocab/1", "tokens": ["a"], "pad": None, "unk": None}}]
    for data in broken:
        with pytest.raises(ValueError):
            cls.from_json(data)
    with pytest.raises(ValueError, match="not a tokenizer"):
        tokenizer_from_json({"format": "rnnlab.vocab/1"})


def test_kinds_by_config_name():
    assert TOKENIZERS == {"word": WordTokenizer, "subword": SubwordTokenizer}
    for cls in TOKENIZERS.values():
        tok = cls.train(CORPUS, vocab_size=60, lowercase=True)  # the keywords both kinds take
        assert len(tok) == 60 and tok.kind in TOKENIZERS
