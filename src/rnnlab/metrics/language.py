"""Language-model figures from a mean next-token loss in nats."""
from __future__ import annotations

import math


def perplexity(nats: float) -> float:
    """exp(loss): the branching factor the model is as unsure as. Capped at exp(50) (an untrained model's
    loss can overflow exp)."""
    return math.exp(min(nats, 50.0))


def bits(nats: float) -> float:
    """The loss in bits (per character: bits per character, the char-LM papers' unit)."""
    return nats / math.log(2)
