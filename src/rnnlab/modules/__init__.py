"""Neural-network building blocks the tasks share, each knowing nothing of any task (nor importing one):

    embedding.py  word and singleton dropout (training only), a character CNN per word
    pooling.py    a sequence (B, T, H) -> one vector per sequence (B, H), masked to each true length
    crf.py        a linear-chain CRF over per-token scores, with IOB2 transition constraints
    attention.py  additive (Bahdanau) and multiplicative (Luong general / dot) attention, masked
    decoder.py    a recurrent decoder with attention and input feeding, stepped by decoding/search.py
    encoder_decoder.py  the encoder contract (Encoded, Encoder), TextEncoder, and EncoderDecoder: any encoder's
                  memory read by the attention decoder (translation today, an image encoder for captions)
    classifier.py the many-to-one classifier (embedding, a left-to-right Recurrent, a head on every step)
                  the intent and API-call tasks share

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
