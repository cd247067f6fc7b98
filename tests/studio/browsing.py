"""What the Chromium tests share: the browser, the studio served on a free loopback port, and a page that
collects the console errors and page errors a test then asserts are none."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from rnnlab.studio.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install "
                                           "chromium; .ci/run installs it)")


# how many distinct colours a canvas holds, the canvas given as an element (a blank or one-colour canvas: 1)
CANVAS_COLOURS_OF = """(c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return seen.size;
}"""
# the same, the canvas given by its id
CANVAS_COLOURS = f"(id) => ({CANVAS_COLOURS_OF})(document.getElementById(id))"


def serve(bundle):
    """The studio under uvicorn in a thread, on a loopback socket bound here (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(bundle), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert thread.is_alive() and time.time() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def open_page(browser, height: int = 900):
    """A new 1100-wide page and the list its console errors and page errors are appended to."""
    page = browser.new_page(viewport={"width": 1100, "height": height})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    return page, errors
