"""A recurrent decoder with attention and input feeding (Luong, Pham & Manning 2015).

One step t, reading the previous output y_{t-1} and the encoder's outputs h̄_1..h̄_S (the memory):

    x_t  = [E y_{t-1}; h̃_{t-1}]                 input feeding: the last attentional vector goes back in
    h_t  = RNN(x_t, h_{t-1})                     a stack of rnnlab cells (rnn / lstm / gru), top layer's h_t
    a_t  = align(h_t, h̄_s) over the real s      rnnlab.modules.attention (general, dot or additive)
    c_t  = sum_s a_t(s) h̄_s                     the context
    h̃_t = tanh(W_c [c_t; h_t])                  the attentional vector
    p(y_t | y_<t, x) = softmax(W_s h̃_t)

and the initial state comes from the encoder through a bridge, h_0 = tanh(W_b f) per layer (and c_0 for
an LSTM), f the encoder's summary of the source (`encoder_final`, e.g. `top_layer_final(h_n, 2)` of a
bidirectional encoder); h̃_0 = 0.

The decoder knows nothing of text or of any task: ids in, scores over V ids out, a memory of vectors
to attend over (words of a source sentence, regions of an image); rnnlab.modules.encoder_decoder pairs it
with any encoder that gives that memory, its mask and f. Two ways to run it:

    forward(targets_in (B, T), encoder_outputs, encoder_final, mask) -> logits (B, T, V)   teacher forcing
    step(y_prev (B,), state, memory) -> (log_probs (B, V), state, weights (B, S))         one step, for search

`forward` is `step` T times (the same `_advance` per step), with the embedding and output projection
done for all T steps at once. The state is a `DecoderState`, a tuple whose tensors all have the batch
on dim 1, so rnnlab.state's map_state / detach / select_rows / expand_rows work on it as on any
recurrent state; the `Memory` reorders itself by `select_rows`. rnnlab.state.take_rows reorders either,
which is all rnnlab.decoding.search needs to drive this decoder without knowing it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import FAMILIES, resolve_cell
from ..layers import RecurrentConfig, build_recurrent
from .attention import make_attention


class DecoderState(NamedTuple):
    """What the decoder carries from step to step; every tensor has the batch on dim 1.

    rnn   h (L, B, H), or (h, c) for an LSTM: the stack's state, as rnnlab.Recurrent takes it
    feed  (1, B, H): h̃_{t-1}, the input-feed vector, held with a leading 1 so that its batch is on dim 1
          like h's and rnnlab.state's helpers need no special case

    A tuple: rnnlab.state.map_state (hence select_rows, detach) returns it as a plain tuple (rnn, feed),
    which the decoder reads back positionally."""

    rnn: Tensor | tuple[Tensor, Tensor]
    feed: Tensor


@dataclass(frozen=True)
class Memory:
    """What the decoder attends over, one row per sequence (batch on dim 0, as attention takes it).

    keys       (B, S, He): the encoder's outputs h̄_s (also the values mixed into the context)
    mask       (B, S) bool: True at the real positions
    projected  (B, S, A) or None: attention.project_keys(keys), the keys' share of the scores, computed
               once per source rather than once per step (additive attention; None for the others)
    """

    keys: Tensor
    mask: Tensor
    projected: Tensor | None = None

    def select_rows(self, rows: Tensor | list[int]) -> "Memory":
        """Rows `rows` of every part (reorder, keep or repeat sources: beam search's expansion)."""
        index = torch.as_tensor(rows, dtype=torch.long).to(self.keys.device)
        return Memory(self.keys.index_select(0, index), self.mask.index_select(0, index),
                      None if self.projected is None else self.projected.index_select(0, index))


def top_layer_final(h_n: Tensor, num_directions: int) -> Tensor:
    """An encoder's final h (L*D, B, H) -> its top layer's, directions side by side (B, D*H).

    Rows of h_n are layer-major then direction (rnnlab.Recurrent, torch.nn), so the top layer is the last D
    rows: for a bidirectional encoder, the forward pass's last step and the backward pass's first."""
    return torch.cat(h_n[-num_directions:].unbind(0), dim=-1)


class AttentionDecoder(nn.Module):
    """Luong et al. 2015's decoder: embedding, input feeding, a recurrent stack, attention, W_c, W_s.

    vocab_size V, embed_size E, hidden_size H, memory_size He (the encoder outputs' size), final_size
    (encoder_final's size, default He), num_layers L, cell ("rnn", "rnn_tanh", "rnn_relu", "lstm",
    "gru"), attention ("general", "dot", "additive"), dropout (on the embeddings, between layers and on
    h̃_t, which both feeds the next step and is projected, as in OpenNMT), padding_idx of the target
    embedding, engine the recurrent engine of its one-step calls (rnnlab.engines). See the module docstring
    for the equations and the two ways to run it."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, memory_size: int, *,
                 final_size: int | None = None, num_layers: int = 1, cell: str = "lstm",
                 attention: str = "general", dropout: float = 0.0, padding_idx: int | None = None,
                 engine: str = "auto"):
        super().__init__()
        self.cell = resolve_cell(cell)
        self.vocab_size, self.hidden_size, self.memory_size, self.num_layers = (
            vocab_size, hidden_size, memory_size, num_layers)
        self.final_size = memory_size if final_size is None else final_size
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=padding_idx)  # E
        # one time step per call; dropout between the layers is Recurrent's own (it needs L >= 2)
        self.rnn = build_recurrent(RecurrentConfig(self.cell, hidden_size, num_layers, dropout=dropout, engine=engine),
                                   embed_size + hidden_size, batch_first=False)
        # W_b: f -> every layer's h_0 (and c_0): (arity * L * H) outputs, cut into parts below
        self.bridge = nn.Linear(self.final_size, FAMILIES[self.cell].state_arity * num_layers * hidden_size)
        self.attention = make_attention(attention, hidden_size, memory_size)
        self.combine = nn.Linear(memory_size + hidden_size, hidden_size, bias=False)  # W_c, no bias as in the paper
        self.out = nn.Linear(hidden_size, vocab_size)  # W_s
        self.dropout = nn.Dropout(dropout)

    # ---- start -----------------------------------------------------------------------------------

    def memory(self, encoder_outputs: Tensor, mask: Tensor) -> Memory:
        """encoder_outputs (B, S, He), mask (B, S) bool -> the Memory every step attends over."""
        self._check_source(encoder_outputs, mask)
        return Memory(encoder_outputs, mask, self.attention.project_keys(encoder_outputs))

    def init_state(self, encoder_outputs: Tensor, encoder_final: Tensor | None, mask: Tensor) -> DecoderState:
        """The state before the first step: h_0 = tanh(W_b f) per layer (c_0 likewise for an LSTM), h̃_0 = 0.

        encoder_outputs (B, S, He) and mask (B, S) give the batch, device and dtype, and are checked as
        `memory` checks them; encoder_final f (B, final_size), or None for a zero h_0 (no bridge)."""
        self._check_source(encoder_outputs, mask)
        B, L, H = encoder_outputs.shape[0], self.num_layers, self.hidden_size
        family = FAMILIES[self.cell]
        if encoder_final is None:
            zeros = encoder_outputs.new_zeros(L, B, H)
            rnn = family.state_from_parts((zeros,) * family.state_arity)
        else:
            assert encoder_final.shape == (B, self.final_size), \
                f"encoder_final {tuple(encoder_final.shape)}, want ({B}, {self.final_size})"
            bridged = torch.tanh(self.bridge(encoder_final))  # (B, arity*L*H)
            parts = bridged.view(B, family.state_arity, L, H).permute(1, 2, 0, 3)  # (arity, L, B, H)
            rnn = family.state_from_parts(tuple(p.contiguous() for p in parts))  # h_0, or (h_0, c_0)
        feed = encoder_outputs.new_zeros(1, B, H)  # h̃_0 = 0
        return DecoderState(rnn, feed)

    def _check_source(self, encoder_outputs: Tensor, mask: Tensor) -> None:
        assert encoder_outputs.dim() == 3 and encoder_outputs.shape[2] == self.memory_size, \
            f"encoder_outputs {tuple(encoder_outputs.shape)}, want (B, S, {self.memory_size})"
        assert mask.shape == encoder_outputs.shape[:2] and mask.dtype == torch.bool, \
            f"mask {tuple(mask.shape)} {mask.dtype}, want {tuple(encoder_outputs.shape[:2])} bool"

    # ---- one step --------------------------------------------------------------------------------

    def _advance(self, embedded: Tensor, state, memory: Memory) -> tuple[Tensor, DecoderState, Tensor]:
        """One step from E y_{t-1} (B, E): (h̃_t (B, H), the new state, a_t (B, S))."""
        rnn, feed = state  # h_{t-1} (and c_{t-1}) (L, B, H); h̃_{t-1} (1, B, H)
        x = torch.cat([embedded, feed[0]], dim=-1)  # (B, E+H): x_t = [E y_{t-1}; h̃_{t-1}]
        output, rnn = self.rnn(x.unsqueeze(0), rnn)  # (1, B, H): h_t = RNN(x_t, h_{t-1}), top layer
        h = output[0]  # (B, H)
        context, weights = self.attention(h, memory.keys, memory.mask, memory.projected)  # c_t (B, He), a_t (B, S)
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, H): h̃_t = tanh(W_c [c_t; h_t])
        attentional = self.dropout(attentional)
        return attentional, DecoderState(rnn, attentional.unsqueeze(0)), weights

    def step(self, y_prev: Tensor, state, memory: Memory) -> tuple[Tensor, DecoderState, Tensor]:
        """y_prev (B,) long -> (log p(y_t | ...) (B, V) float32, the new state, attention weights (B, S)).

        float32 whatever the compute dtype: search adds these up over many steps."""
        embedded = self.dropout(self.embedding(y_prev))  # (B, E)
        attentional, state, weights = self._advance(embedded, state, memory)
        return F.log_softmax(self.out(attentional).float(), dim=-1), state, weights  # softmax(W_s h̃_t)

    # ---- teacher forcing -------------------------------------------------------------------------

    def forward(self, targets_in: Tensor, encoder_outputs: Tensor, encoder_final: Tensor | None,
                mask: Tensor) -> Tensor:
        """targets_in (B, T) long (y_0 = bos, y_1 .. y_{T-1}) -> logits (B, T, V), row t scoring y_t.

        The steps of `step`, with the gold previous token fed at each one; the embedding and W_s run
        once over all T steps, as only the recurrence needs the loop."""
        state = self.init_state(encoder_outputs, encoder_final, mask)
        memory = self.memory(encoder_outputs, mask)
        embedded = self.dropout(self.embedding(targets_in))  # (B, T, E)
        attentional = []
        for e in embedded.unbind(1):  # T views (B, E)
            h_tilde, state, _ = self._advance(e, state, memory)
            attentional.append(h_tilde)
        return self.out(torch.stack(attentional, dim=1))  # (B, T, V) = W_s h̃_t for every t

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, final_size={self.final_size}"
