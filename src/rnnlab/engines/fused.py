"""The fused engine: torch's own kernels (`torch._VF.lstm` & co.), the very call nn.LSTM.forward makes.

oneDNN on CPU, cuDNN on GPU: fast and opaque. Inputs arrive checked by `Recurrent` (torch's _VF kernels
trust the sizes they are given and read past the weights when they are wrong, so the checks are not optional).
"""
from __future__ import annotations

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.state import map_state


def run(layer, x: Tensor, state, lengths: Tensor | None):
    """x (T, B, I) or (B, T, I), state or None, lengths (B,) or None -> (output, final state), as torch.nn."""
    batch_axis = 0 if layer.batch_first else 1
    hx = layer.initial_state(x, state, x.shape[batch_axis])
    family = layer.family
    kernel = family.kernel  # torch._VF.lstm & co.
    if lengths is None:
        result = kernel(x, hx, layer.flat_weights(), layer.bias, layer.num_layers, layer.dropout,
                        layer.training, layer.bidirectional, layer.batch_first)
        return result[0], family.state_from_parts(result[1:])  # result: (output, h_n) or (output, h_n, c_n)
    packed = pack_padded_sequence(x, lengths, batch_first=layer.batch_first, enforce_sorted=False)
    # The kernel sees the batch sorted by length: sort the given state likewise, and unsort the result.
    hx = map_state(hx, lambda s: s.index_select(1, packed.sorted_indices))
    result = kernel(packed.data, packed.batch_sizes, hx, layer.flat_weights(), layer.bias, layer.num_layers,
                    layer.dropout, layer.training, layer.bidirectional)
    output, _ = pad_packed_sequence(
        PackedSequence(result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
        batch_first=layer.batch_first, total_length=x.shape[1 - batch_axis])
    final = family.state_from_parts(result[1:])
    return output, map_state(final, lambda s: s.index_select(1, packed.unsorted_indices))
