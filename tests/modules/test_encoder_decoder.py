"""rnnlab.modules.encoder_decoder: the encoder contract. A toy encoder that reads no text (a Linear over random
"image region" features) drives the same AttentionDecoder through EncoderDecoder.forward and through
decoding.seq2seq's greedy and beam search; masked regions are invisible; start and forward agree; sizes are
checked at build time; and TextEncoder is numerically the encoder translation always had."""
import pytest
import torch
from torch import nn

from rnnlab.decoding.seq2seq import generate, length_limits
from rnnlab.layers import Recurrent
from rnnlab.modules.decoder import AttentionDecoder, DecoderState, Memory, top_layer_final
from rnnlab.modules.encoder_decoder import Encoded, Encoder, EncoderDecoder, TextEncoder
from rnnlab.modules.pooling import length_mask

B, R, D, M = 3, 5, 7, 6  # images, regions (padded), region features, memory units
V, E, H = 9, 4, 8
BOS, EOS = 0, 1
COUNTS = torch.tensor([5, 2, 3])  # real regions per image


class RegionEncoder(nn.Module):
    """A non-text encoder: region features (B, R, D) -> memory (B, R, M) by one Linear; final = the mean of the
    real regions' memory (Show, Attend and Tell's initial state); a region count per image gives the mask."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(D, M)
        self.memory_size = self.final_size = M

    def encode(self, inputs):
        features, counts = inputs["regions"], inputs["region_counts"]  # (B, R, D), (B,)
        mask = length_mask(counts, features.shape[1])  # (B, R)
        memory = torch.tanh(self.proj(features)).masked_fill(~mask.unsqueeze(2), 0.0)  # (B, R, M)
        final = memory.sum(1) / counts.unsqueeze(1)  # (B, M)
        return Encoded(memory, mask, final)


def captioner(cell: str = "lstm", attention: str = "general", seed: int = 0) -> EncoderDecoder:
    torch.manual_seed(seed)
    decoder = AttentionDecoder(V, E, H, M, num_layers=2, cell=cell, attention=attention)
    with torch.no_grad():
        decoder.out.weight.mul_(3.0)  # peaky enough that eos wins for some prefixes
    return EncoderDecoder(RegionEncoder(), decoder).eval()


def images(seed: int = 1, junk: float = 0.0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    features = torch.randn(B, R, D)
    pad = ~length_mask(COUNTS, R).unsqueeze(2)
    return {"regions": features.masked_fill(pad, 0.0) + junk * pad, "region_counts": COUNTS}


def test_a_region_encoder_honours_the_contract():
    model = captioner()
    assert isinstance(model.encoder, Encoder)
    memory, mask, final = model.encoder.encode(images())
    assert memory.shape == (B, R, M) and mask.shape == (B, R) and mask.dtype == torch.bool
    assert final.shape == (B, M)
    assert mask.sum(1).tolist() == COUNTS.tolist()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ["general", "additive"])
def test_forward_is_the_decoder_stepped_from_start(cell, attention):
    """Teacher forcing through EncoderDecoder.forward equals stepping decoder.step from `start`: search and
    training see one model."""
    model = captioner(cell, attention)
    inputs = images()
    targets_in = torch.randint(0, V, (B, 4))
    with torch.no_grad():
        logits = model(inputs, targets_in)
        state, memory, sizes = model.start(inputs)
        assert isinstance(state, DecoderState) and isinstance(memory, Memory)
        assert memory.keys.shape == (B, R, M) and torch.equal(memory.mask, length_mask(COUNTS, R))
        assert sizes.dtype == torch.long and sizes.tolist() == COUNTS.tolist()
        steps = []
        for y in targets_in.unbind(1):
            log_probs, state, weights = model.decoder.step(y, state, memory)
            assert weights.shape == (B, R) and (weights[~memory.mask] == 0).all()
            steps.append(log_probs)
    assert logits.shape == (B, 4, V)
    torch.testing.assert_close(torch.stack(steps, 1), logits.log_softmax(-1))


@pytest.mark.parametrize("beam_size", [1, 3])
def test_greedy_and_beam_search_over_a_non_text_encoder(beam_size):
    """decoding.seq2seq.generate drives the region encoder's decoder: one output per image, within its limit
    (relative to its region count), attention over its real regions only, the score the sum of its tokens'
    log-probs under teacher forcing."""
    model = captioner()
    inputs = images()
    hyps = generate(model, inputs, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=1.0, max_len_b=2)
    assert len(hyps) == B
    limits = length_limits(COUNTS, 1.0, 2)
    for b, hyp in enumerate(hyps):
        assert 1 <= len(hyp.tokens) <= limits[b]
        assert len(hyp.tokens) == limits[b] or hyp.tokens[-1] == EOS
        assert EOS not in hyp.tokens[:-1]
        assert hyp.attention.shape == (len(hyp.tokens), R)
        assert (hyp.attention[:, COUNTS[b]:] == 0).all()
        torch.testing.assert_close(hyp.attention.sum(1), torch.ones(len(hyp.tokens)))
        one = {k: v[b: b + 1] for k, v in inputs.items()}
        targets_in = torch.tensor([[BOS] + hyp.tokens[:-1]])
        with torch.no_grad():
            log_probs = model(one, targets_in).log_softmax(-1)[0]  # (T, V)
        chosen = log_probs[torch.arange(len(hyp.tokens)), torch.tensor(hyp.tokens)].sum()
        assert float(chosen) == pytest.approx(hyp.score, abs=1e-5)


def test_padded_regions_change_nothing():
    """Junk in the padded regions is invisible to forward and to search: the mask is honoured end to end."""
    model = captioner()
    clean, junk = images(), images(junk=50.0)
    assert not torch.equal(clean["regions"], junk["regions"])
    targets_in = torch.randint(0, V, (B, 3))
    with torch.no_grad():
        torch.testing.assert_close(model(clean, targets_in), model(junk, targets_in))
    for beam_size in (1, 3):
        a = generate(model, clean, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=1.0, max_len_b=2)
        b = generate(model, junk, bos=BOS, eos=EOS, beam_size=beam_size, max_len_a=1.0, max_len_b=2)
        assert [h.tokens for h in a] == [h.tokens for h in b]


def test_sizes_are_checked_when_built():
    decoder = AttentionDecoder(V, E, H, M + 1)
    with pytest.raises(ValueError, match="memory of 6 units"):
        EncoderDecoder(RegionEncoder(), decoder)
    with pytest.raises(ValueError, match="final has 6 units"):
        EncoderDecoder(RegionEncoder(), AttentionDecoder(V, E, H, M, final_size=M + 2))
    with pytest.raises(TypeError, match="not an Encoder"):
        EncoderDecoder(nn.Linear(D, M), AttentionDecoder(V, E, H, M))


def old_encode(embed, drop, encoder, source, lengths):
    """TranslateModel.encode as it was before TextEncoder (the reference this test holds TextEncoder to)."""
    outputs, state = encoder(drop(embed(source)), lengths=lengths.cpu())
    h_n = state[0] if isinstance(state, tuple) else state
    mask = torch.arange(source.shape[1], device=source.device).unsqueeze(0) < lengths.to(source.device).unsqueeze(1)
    return outputs, top_layer_final(h_n, 2), mask


@pytest.mark.parametrize("cell, num_layers", [("gru", 1), ("lstm", 2), ("rnn_tanh", 3)])
def test_text_encoder_is_translations_old_encoder(cell, num_layers):
    """Built from the same seed, TextEncoder draws the same weights as the embedding + Recurrent translation
    built itself, and encodes identically (dropout included, in training mode with the same RNG)."""
    vocab, embed_size, hidden, dropout = 11, 5, 8, 0.3
    torch.manual_seed(0)
    embed = nn.Embedding(vocab, embed_size, padding_idx=0)
    drop = nn.Dropout(dropout)
    encoder = Recurrent(cell, embed_size, hidden // 2, num_layers=num_layers, bidirectional=True, batch_first=True,
                        dropout=dropout if num_layers > 1 else 0.0)
    torch.manual_seed(0)
    text = TextEncoder(vocab, embed_size, hidden // 2, num_layers=num_layers, cell=cell, dropout=dropout, padding_idx=0)
    assert text.memory_size == text.final_size == hidden  # hidden_size is per direction: the memory has both
    old_params = list(embed.parameters()) + list(encoder.parameters())
    assert len(old_params) == len(list(text.parameters()))
    for old, new in zip(old_params, text.parameters()):
        assert torch.equal(old, new)
    lengths = torch.tensor([4, 1, 3])
    source = torch.randint(1, vocab, (3, 4)).masked_fill(~length_mask(lengths, 4), 0)
    for training in (False, True):
        embed.train(training), drop.train(training), encoder.train(training), text.train(training)
        torch.manual_seed(5)
        want = old_encode(embed, drop, encoder, source, lengths)
        torch.manual_seed(5)
        got = text.encode({"source": source, "source_lengths": lengths})
        assert isinstance(got, Encoded)
        for w, g in zip(want, (got.memory, got.final, got.mask)):
            assert torch.equal(w, g)
    assert got.memory.shape == (3, 4, hidden) and got.final.shape == (3, hidden)
    assert (got.memory[~got.mask] == 0).all()  # zero past each end


def test_text_encoder_trace_is_its_recurrence_over_the_embedded_source():
    torch.manual_seed(0)
    text = TextEncoder(11, 5, 4, cell="gru").eval()  # 4 per direction: memory 8
    source, lengths = torch.tensor([[3, 4, 5]]), torch.tensor([3])
    traced = text.trace({"source": source, "source_lengths": lengths})
    want = text.rnn.trace(text.embed(source), lengths=lengths)
    assert traced.keys() == want.keys() and all(torch.equal(traced[k], want[k]) for k in want)
    with torch.no_grad():  # the traced (glass) engine computes what encode's engine does
        memory = text.encode({"source": source, "source_lengths": lengths}).memory
    assert traced["output"].shape == memory.shape == (1, 3, 8)
    torch.testing.assert_close(traced["output"], memory)
