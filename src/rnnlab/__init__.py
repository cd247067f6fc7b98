"""rnnlab: recurrent neural networks from gate equations to served models."""
__version__ = "0.1.0"

# Public API, re-exported; the redundant `as` aliases mark these as re-exports.
from .bundle import load as load  # noqa: E402
from .cells import GRUCell as GRUCell  # noqa: E402
from .cells import LSTMCell as LSTMCell  # noqa: E402
from .cells import RNNCell as RNNCell  # noqa: E402
from .layers import Recurrent as Recurrent  # noqa: E402
