"""rnnlab: recurrent neural networks from gate equations to served models."""
__version__ = "0.1.0"
