"""Encoder-decoder: any encoder that honours one contract, read by modules.decoder's AttentionDecoder.

The contract (`Encoder`): a batch of inputs, a dict of tensors with the batch on dim 0 (source ids and their
lengths; an image's region features), becomes an `Encoded`:

    memory  (B, S, M)       the vectors the decoder attends over: S source pieces, or S regions of an image
    mask    (B, S) bool     True at the real positions (a padded source's tail is False; a full grid all True)
    final   (B, F) or None  the summary the decoder's initial state is bridged from (h_0 = tanh(W_b f));
                            None starts the decoder from zeros

with the encoder's `memory_size` M and `final_size` F (None when `final` is) as attributes, so that an
`EncoderDecoder` can check at build time that the decoder it is given reads what the encoder writes. The
decoder, the search (rnnlab.decoding.search, rnnlab.decoding.seq2seq) and the metrics see only these three
tensors: an encoder that honours the contract plugs in with no change to any of them.

    EncoderDecoder(encoder, decoder)
        forward(inputs, targets_in (B, T)) -> logits (B, T, V)          teacher forcing
        start(inputs) -> (state, memory, sizes (B,))                     what search steps from

`sizes` is each input's number of real memory positions (mask.sum(1)): source pieces for text, regions for an
image; output length limits are relative to it (decoding.seq2seq.length_limits).

`GridEncoder` is the encoder of image captioning: a frozen CNN's grid of region vectors (computed once, outside the
model: rnnlab.vision) projected to the memory, with their mean as the final (Show, Attend and Tell's a_i and mean
a_i), or that mean alone as a one-position memory for the no-attention baseline.

`TextEncoder` is the encoder of sequence to sequence over text (translation): ids -> embedding -> dropout ->
bidirectional Recurrent with hidden_size units per direction (OpenNMT's "brnn"; hidden_size means per direction
in every rnnlab model), so its memory has 2 * hidden_size units.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..layers import RecurrentConfig, build_recurrent
from ..state import hidden
from .decoder import AttentionDecoder, DecoderState, Memory, top_layer_final
from .pooling import length_mask


class Encoded(NamedTuple):
    """An encoder's output: memory (B, S, M), mask (B, S) bool, final (B, F) or None (see the module docstring)."""

    memory: Tensor
    mask: Tensor
    final: Tensor | None


@runtime_checkable
class Encoder(Protocol):
    """What an `EncoderDecoder` needs of its encoder (an nn.Module): its sizes and `encode`."""

    memory_size: int  # M: memory's last dim
    final_size: int | None  # F: final's last dim; None when encode gives no final

    def encode(self, inputs: dict[str, Tensor]) -> Encoded:
        """A batch of inputs (tensors, batch on dim 0) -> Encoded(memory (B, S, M), mask (B, S), final (B, F))."""
        ...


class TextEncoder(nn.Module):
    """Source ids -> embedding (E) -> dropout -> bidirectional Recurrent, hidden_size units per direction.

    inputs: "source" (B, S) long ids, padded; "source_lengths" (B,) long, each in 1..S.
    encode -> memory h̄ (B, S, 2H), zero past each source's end; mask (B, S); final (B, 2H): the top layer's final
    h of both directions side by side (the forward pass's last real step, the backward pass's first)."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, *, num_layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, padding_idx: int | None = None, engine: str = "auto"):
        super().__init__()
        # created in this order (embedding, then recurrence) so a seeded build draws the same weights as
        # translation's model did when these were its own attributes `embed` and `encoder`
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=padding_idx)
        self.drop = nn.Dropout(dropout)
        rnn = RecurrentConfig(cell, hidden_size, num_layers, bidirectional=True, dropout=dropout, engine=engine)
        self.rnn = build_recurrent(rnn, embed_size)
        self.memory_size = self.final_size = rnn.output_size  # 2 * hidden_size

    def encode(self, inputs: dict[str, Tensor]) -> Encoded:
        source, lengths = inputs["source"], inputs["source_lengths"]  # (B, S), (B,)
        outputs, state = self.rnn(self.drop(self.embed(source)), lengths=lengths.cpu())  # (B, S, H), zero past ends
        h_n = hidden(state)  # (L*2, B, H); an LSTM's h of (h, c)
        mask = length_mask(lengths.to(source.device), source.shape[1])  # (B, S)
        return Encoded(outputs, mask, top_layer_final(h_n, 2))

    def forward(self, inputs: dict[str, Tensor]) -> Encoded:
        return self.encode(inputs)

    def trace(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """The recurrence's states and gates per source piece (Recurrent.trace: both directions, every layer)
        over the embedded source, without dropout (call it in eval mode)."""
        return self.rnn.trace(self.embed(inputs["source"]), lengths=inputs["source_lengths"].cpu())


class GridEncoder(nn.Module):
    """An image's region vectors (a CNN's feature grid, S = h*w regions of C channels) -> the decoder's memory.

    inputs: "regions" (B, S, C) float (float16 from the feature cache is read as float32).
    project_size P > 0: memory = dropout(ReLU(W_p a_i + b_p)) (B, S, P), a learned adapter from the frozen CNN's
    features to the decoder's (Show, Attend and Tell reads the raw a_i: P = 0 keeps them, M = C).
    regions "grid": every region is a memory position (attention chooses where to look); "mean": one position,
    the mean region vector (the decoder then reads the same context at every step: Show and Tell's image
    vector, the no-attention baseline). final: the mean of the memory's positions (B, M), the bridge's input
    (SAT's h_0 = f_init(mean a_i)). mask: all True (every region of an image is real)."""

    REGIONS = ("grid", "mean")

    def __init__(self, feature_size: int, *, project_size: int = 0, regions: str = "grid", dropout: float = 0.0):
        super().__init__()
        if regions not in self.REGIONS:
            raise ValueError(f"regions must be one of {self.REGIONS}, got {regions!r}")
        self.feature_size, self.regions = feature_size, regions
        self.project = nn.Linear(feature_size, project_size) if project_size > 0 else None
        self.drop = nn.Dropout(dropout)
        self.memory_size = self.final_size = project_size if project_size > 0 else feature_size

    def encode(self, inputs: dict[str, Tensor]) -> Encoded:
        regions = inputs["regions"]  # (B, S, C)
        assert regions.dim() == 3 and regions.shape[2] == self.feature_size, \
            f"regions {tuple(regions.shape)}, want (B, S, {self.feature_size})"
        x = regions.float()  # the cache's float16 -> float32 (autocast casts again where it runs bf16)
        if self.regions == "mean":
            x = x.mean(1, keepdim=True)  # (B, 1, C): one position, the whole image
        memory = self.drop(torch.relu(self.project(x))) if self.project is not None else self.drop(x)  # (B, S', M)
        mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)  # (B, S')
        return Encoded(memory, mask, memory.mean(1))  # final (B, M)

    def forward(self, inputs: dict[str, Tensor]) -> Encoded:
        return self.encode(inputs)

    def extra_repr(self) -> str:
        return f"feature_size={self.feature_size}, memory_size={self.memory_size}, regions={self.regions!r}"


class EncoderDecoder(nn.Module):
    """An `Encoder` and an AttentionDecoder over its memory: teacher forcing (`forward`) and the start of a
    search (`start`). The decoder's memory_size and final_size must be the encoder's."""

    def __init__(self, encoder: nn.Module, decoder: AttentionDecoder):
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"{type(encoder).__name__} is not an Encoder: it needs memory_size, final_size and "
                            f"encode(inputs) -> Encoded")
        if encoder.memory_size != decoder.memory_size:
            raise ValueError(f"the encoder writes a memory of {encoder.memory_size} units, the decoder reads "
                             f"{decoder.memory_size}")
        if encoder.final_size is not None and encoder.final_size != decoder.final_size:
            raise ValueError(f"the encoder's final has {encoder.final_size} units, the decoder's bridge reads "
                             f"{decoder.final_size}")
        self.encoder, self.decoder = encoder, decoder  # registered in this order: encoder's parameters first

    def forward(self, inputs: dict[str, Tensor], targets_in: Tensor) -> Tensor:
        """Teacher forcing: inputs (the encoder's), targets_in (B, T) long (bos, y_1 .. y_{T-1}) -> logits (B, T, V)."""
        memory, mask, final = self.encoder.encode(inputs)
        return self.decoder(targets_in, memory, final, mask)

    def start(self, inputs: dict[str, Tensor]) -> tuple[DecoderState, Memory, Tensor]:
        """What search steps `decoder.step` from: (the decoder's initial state, the Memory it attends over, sizes
        (B,) long on the CPU: each input's real memory positions, for output length limits)."""
        memory, mask, final = self.encoder.encode(inputs)
        state = self.decoder.init_state(memory, final, mask)
        return state, self.decoder.memory(memory, mask), mask.sum(1).cpu()
