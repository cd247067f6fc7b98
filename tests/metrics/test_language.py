"""rnnlab.metrics.language."""
import math

import pytest

from rnnlab.metrics.language import bits, perplexity


def test_perplexity_and_bits():
    assert perplexity(math.log(2)) == pytest.approx(2.0) and bits(math.log(2)) == pytest.approx(1.0)
    assert perplexity(0.0) == 1.0
    assert math.isfinite(perplexity(1e6))  # an untrained model's loss does not overflow
