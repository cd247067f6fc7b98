"""rnnlab's version, in a module of its own so that bundles, the CLI and the studio read it without
importing the package root (which imports them)."""
__version__ = "0.1.0"
