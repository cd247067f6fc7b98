"""rnnlab.modules.decoder: teacher forcing is stepping, the state reorders, padding is invisible,
gradients reach the encoder, every cell works, and a tiny encoder-decoder learns to reverse sequences."""
import random
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab.cells import CELL_NAMES
from rnnlab.decoding.search import greedy
from rnnlab.modules.attention import ATTENTION_KINDS
from rnnlab.modules.decoder import AttentionDecoder, DecoderState, Memory, top_layer_final
from rnnlab.modules.pooling import length_mask
from rnnlab.state import detach, expand_rows, map_state, select_rows, take_rows

V, E, H, HE = 7, 5, 6, 8
LENGTHS = torch.tensor([4, 2, 1])
MASK = length_mask(LENGTHS, 4)  # (B, S)


def source(pad_value: float = 0.0, size: int = HE):
    torch.manual_seed(1)
    outputs = torch.randn(3, 4, size).masked_fill(~MASK.unsqueeze(2), pad_value)  # (B, S, He)
    return outputs, torch.randn(3, size)  # encoder outputs, encoder_final


def memory_size(attention: str) -> int:
    return H if attention == "dot" else HE  # dot scores h_t . h̄_s: the sizes must agree


def decoder(cell="lstm", attention="general", num_layers=2, dropout=0.0) -> AttentionDecoder:
    torch.manual_seed(0)
    return AttentionDecoder(V, E, H, memory_size(attention), num_layers=num_layers, cell=cell,
                            attention=attention, dropout=dropout).eval()


def leaves(state) -> list[torch.Tensor]:
    found = []
    map_state(state, lambda t: found.append(t) or t)
    return found


def steps(dec, targets_in, outputs, final, mask):
    """log-probs (B, T, V) and attention (B, T, S) from calling step T times."""
    state, memory = dec.init_state(outputs, final, mask), dec.memory(outputs, mask)
    log_probs, weights = [], []
    for y in targets_in.unbind(1):
        lp, state, w = dec.step(y, state, memory)
        log_probs.append(lp)
        weights.append(w)
    return torch.stack(log_probs, 1), torch.stack(weights, 1)


@pytest.mark.parametrize("cell", [*CELL_NAMES, "rnn"])
@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_teacher_forcing_equals_stepping(cell, attention):
    dec = decoder(cell, attention)
    outputs, final = source(size=memory_size(attention))
    targets_in = torch.randint(0, V, (3, 5))
    logits = dec(targets_in, outputs, final, MASK)
    assert logits.shape == (3, 5, V)
    log_probs, weights = steps(dec, targets_in, outputs, final, MASK)
    assert log_probs.dtype == torch.float32 and weights.shape == (3, 5, 4)
    torch.testing.assert_close(log_probs, logits.log_softmax(-1))
    torch.testing.assert_close(log_probs.logsumexp(-1), torch.zeros(3, 5))  # normalized
    assert (weights[~MASK.unsqueeze(1).expand(-1, 5, -1)] == 0).all()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_and_memory_reorder_by_rows(cell):
    """A step on reordered / repeated rows is the same rows of the step: what beam search relies on."""
    dec = decoder(cell)
    outputs, final = source()
    state, memory = dec.init_state(outputs, final, MASK), dec.memory(outputs, MASK)
    assert isinstance(state, DecoderState) and state.feed.shape == (1, 3, H)
    y = torch.tensor([2, 3, 4])
    want_lp, want_state, want_w = dec.step(y, state, memory)
    rows = torch.tensor([2, 0, 0, 1])
    lp, new_state, w = dec.step(y[rows], select_rows(state, rows), memory.select_rows(rows))
    torch.testing.assert_close(lp, want_lp[rows])
    torch.testing.assert_close(w, want_w[rows])
    for got, want in zip(*(leaves(s) for s in (new_state, select_rows(want_state, rows)))):
        torch.testing.assert_close(got, want)
    # expand_rows (b -> b*K .. b*K+K-1) and take_rows (what search calls) agree with select_rows
    expanded = expand_rows(state, 2)
    again = take_rows(state, torch.tensor([0, 0, 1, 1, 2, 2]))
    for got, want in zip(*(leaves(s) for s in (expanded, again))):
        assert torch.equal(got, want)
    assert isinstance(take_rows(memory, [1]), Memory) and take_rows(memory, [1]).keys.shape == (1, 4, HE)
    assert all(not t.requires_grad for t in leaves(detach(state)))


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_padding_of_the_source_changes_nothing(attention):
    dec = decoder("gru", attention)
    outputs, final = source(0.0, memory_size(attention))
    loud, _ = source(1e3, memory_size(attention))
    targets_in = torch.randint(0, V, (3, 4))
    want = dec(targets_in, outputs, final, MASK)
    torch.testing.assert_close(dec(targets_in, loud, final, MASK), want)
    for b, n in enumerate(LENGTHS.tolist()):  # each sentence alone, unpadded
        alone = dec(targets_in[b:b + 1], outputs[b:b + 1, :n], final[b:b + 1], MASK[b:b + 1, :n])
        torch.testing.assert_close(alone[0], want[b])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_gradients_flow_to_the_encoder(cell):
    dec = decoder(cell, "additive").train()
    outputs, final = source()
    outputs.requires_grad_(True)
    final.requires_grad_(True)
    logits = dec(torch.randint(0, V, (3, 4)), outputs, final, MASK)
    F.cross_entropy(logits.flatten(0, 1), torch.randint(0, V, (12,))).backward()
    assert (outputs.grad[MASK].abs().sum(-1) > 0).all()  # every real source position is read
    assert (outputs.grad[~MASK] == 0).all()  # padding never is
    assert final.grad.abs().sum() > 0  # through the bridge
    assert all(p.grad is not None for p in dec.parameters())


def test_bridge_and_zero_start():
    dec = decoder("lstm", num_layers=2)
    outputs, final = source()
    (h, c), feed = dec.init_state(outputs, final, MASK)
    assert h.shape == c.shape == (2, 3, H) and (feed == 0).all()
    bridged = torch.tanh(dec.bridge(final)).view(3, 2, 2, H)  # (B, arity, L, H)
    torch.testing.assert_close(h[1], bridged[:, 0, 1])  # h_0 of layer 1 = tanh(W_b f) cut at (h, layer 1)
    torch.testing.assert_close(c[0], bridged[:, 1, 0])
    (h, c), _ = dec.init_state(outputs, None, MASK)
    assert (h == 0).all() and (c == 0).all()
    gru = AttentionDecoder(V, E, H, HE, final_size=3, cell="gru")
    assert gru.init_state(outputs, torch.randn(3, 3), MASK).rnn.shape == (1, 3, H)


def test_dropout_acts_in_training_only():
    dec = decoder("lstm", dropout=0.5)
    outputs, final = source()
    targets_in = torch.randint(0, V, (3, 4))
    assert torch.equal(dec(targets_in, outputs, final, MASK), dec(targets_in, outputs, final, MASK))
    dec.train()
    assert not torch.equal(dec(targets_in, outputs, final, MASK), dec(targets_in, outputs, final, MASK))


def test_top_layer_final_takes_the_last_layer_both_directions():
    h_n = torch.arange(4 * 2 * 3.0).view(4, 2, 3)  # (L*D = 2*2, B, H): l0 fwd, l0 bwd, l1 fwd, l1 bwd
    assert torch.equal(top_layer_final(h_n, 2), torch.cat([h_n[2], h_n[3]], -1))
    assert torch.equal(top_layer_final(h_n, 1), h_n[3])


# ---- a tiny sequence-to-sequence model learns to reverse ------------------------------------------

PAD, BOS, EOS, FIRST, SYMBOLS = 0, 1, 2, 3, 8  # ids 3 .. 10 are the symbols


class Reverser(nn.Module):
    """A biGRU encoder (rnnlab.Recurrent) + the attention decoder: the smallest translation model."""

    def __init__(self, vocab: int, cell: str = "gru"):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16, padding_idx=PAD)
        self.encoder = rnnlab.Recurrent("gru", 16, 24, bidirectional=True, batch_first=True)
        self.decoder = AttentionDecoder(vocab, 16, 48, 48, cell=cell, attention="general", padding_idx=PAD)

    def encode(self, src, lengths):
        outputs, h_n = self.encoder(self.embed(src), lengths=lengths)  # (B, S, 48), (2, B, 24)
        return outputs, top_layer_final(h_n, 2), length_mask(lengths, src.shape[1])

    def forward(self, src, lengths, targets_in):
        return self.decoder(targets_in, *self.encode(src, lengths))


def reverse_batch(rng: random.Random, n: int, max_len: int = 5):
    seqs = [[rng.randrange(FIRST, FIRST + SYMBOLS) for _ in range(rng.randint(1, max_len))] for _ in range(n)]
    S = max(map(len, seqs))
    src = torch.tensor([s + [PAD] * (S - len(s)) for s in seqs])
    targets = [s[::-1] + [EOS] for s in seqs]
    tgt = torch.tensor([t + [PAD] * (S + 1 - len(t)) for t in targets])  # (B, S+1)
    targets_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], 1).masked_fill(tgt == PAD, PAD)
    return src, torch.tensor([len(s) for s in seqs]), targets_in, tgt, targets


def test_a_tiny_reverser_is_learned_to_exact_outputs(one_thread):
    """The "tiny corpus learned to exact translations" test: ~5 s on one thread."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = Reverser(FIRST + SYMBOLS)
    steps = 250
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    # decayed to 0: Adam at a constant rate keeps knocking one or two of 64 outputs off at the end
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1 - i / steps)
    start = time.perf_counter()
    for _ in range(steps):
        src, lengths, targets_in, tgt, _ = reverse_batch(rng, 64)
        logits = model(src, lengths, targets_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    src, lengths, _, _, targets = reverse_batch(random.Random(1), 64)  # mostly sequences never trained on
    outputs, final, mask = model.encode(src, lengths)
    dec = model.decoder
    found = greedy(dec.step, dec.init_state(outputs, final, mask), dec.memory(outputs, mask), BOS, EOS,
                   max_len=lengths + 2)
    assert [h.tokens for h in found] == targets
    # and it reads the source backwards: output i attends most to source position len - 1 - i
    for h, n in zip(found, lengths.tolist()):
        assert h.attention[:n, :n].argmax(1).tolist() == list(range(n - 1, -1, -1))
    assert time.perf_counter() - start < 20
