"""rnnlab: recurrent neural networks from gate equations to served models."""
# Public API, re-exported; the redundant `as` aliases mark these as re-exports.
from .bundle import load as load  # noqa: E402
from .cells import GRUCell as GRUCell  # noqa: E402
from .cells import LSTMCell as LSTMCell  # noqa: E402
from .cells import RNNCell as RNNCell  # noqa: E402
from .layers import Recurrent as Recurrent  # noqa: E402
from .version import __version__ as __version__  # noqa: E402
