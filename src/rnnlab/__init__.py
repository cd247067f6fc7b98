"""rnnlab: recurrent neural networks from gate equations to served models."""
__version__ = "0.1.0"

from .bundle import load  # noqa: E402
from .cells import GRUCell, LSTMCell, RNNCell  # noqa: E402
from .layers import Recurrent  # noqa: E402
