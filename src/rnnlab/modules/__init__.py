"""Neural-network building blocks the tasks share, each knowing nothing of any task (nor importing one):

    embedding.py  word and singleton dropout (training only), a character CNN per word
    pooling.py    a sequence (B, T, H) -> one vector per sequence (B, H), masked to each true length
    crf.py        a linear-chain CRF over per-token scores, with IOB2 transition constraints
    attention.py  additive (Bahdanau) and multiplicative (Luong general / dot) attention, masked
    decoder.py    a recurrent decoder with attention and input feeding, stepped by decoding/search.py

and `unwrap`, the model inside a data-parallel wrapper.
"""
from __future__ import annotations

from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (or DataParallel); any other model is returned as is.

    The trainer may hand a task the wrapped model. Its forward is what `loss` must call (the wrapper's
    gradient sync is armed there), but the model's own attributes (its CRF, its members) and calls that
    need no sync (evaluation, prediction) go through the module inside."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model
