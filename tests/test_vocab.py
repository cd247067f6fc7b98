import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.vocab import Vocab


def test_build_orders_by_count_then_alphabet_and_specials_first():
    v = Vocab.build([["b", "a", "c"], ["a", "c"], ["c"]])
    assert v.itos == ["<pad>", "<unk>", "c", "a", "b"]
    assert v.pad_id == 0 and v.unk_id == 1
    assert v.encode(["a", "zzz"]) == [3, 1]
    assert v.decode([2, 4]) == ["c", "b"]


def test_min_count_and_max_size():
    v = Vocab.build([["a", "a", "b", "c", "c", "c"]], min_count=2)
    assert v.itos == ["<pad>", "<unk>", "c", "a"]
    v = Vocab.build([["a", "a", "b", "c", "c", "c"]], max_size=3)
    assert v.itos == ["<pad>", "<unk>", "c"]


def test_label_vocab_without_unk_raises_on_unknown():
    v = Vocab(["x", "y"], pad=None, unk=None)
    assert v.index("y") == 1 and v.pad_id is None
    with pytest.raises(KeyError):
        v.index("z")


@pytest.mark.parametrize("bad", [None, [], {"format": "other"}, {"format": "rnnlab.vocab/1", "tokens": [1]},
                                 {"format": "rnnlab.vocab/1", "pad": "<pad>", "unk": None, "tokens": ["a"]},
                                 {"format": "rnnlab.vocab/1", "pad": None, "unk": None, "tokens": ["a", "a"]}])
def test_from_json_rejects_malformed(bad):
    with pytest.raises(ValueError):
        Vocab.from_json(bad)


@given(st.lists(st.lists(st.text(min_size=1, max_size=5), max_size=6), max_size=8),
       st.sampled_from([("<pad>", "<unk>"), (None, "<unk>"), (None, None)]),
       st.lists(st.sampled_from(["<bos>", "<eos>"]), unique=True))
def test_json_round_trip(seqs, pad_unk, specials):
    pad, unk = pad_unk
    v = Vocab.build(seqs, pad=pad, unk=unk, specials=specials)
    w = Vocab.from_json(json.loads(json.dumps(v.to_json())))
    assert w == v and w.itos == v.itos and w.stoi == v.stoi
    for seq in seqs:
        if unk is not None:
            assert w.decode(w.encode(seq)) == [t if t in v else unk for t in seq]
