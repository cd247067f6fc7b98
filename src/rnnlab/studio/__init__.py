"""The studio: `rnnlab serve`'s HTTP API and the web page that shows what a trained network remembers."""
from rnnlab.studio.server import Limits, create_app

__all__ = ["Limits", "create_app"]
