"""Make docs/studio.png: the studio page for the demo model, reading "what time is it?".

    rnnlab demo                      # writes runs/demo/bundle (once)
    python docs/studio_screenshot.py [--bundle runs/demo/bundle] [--out docs/studio.png]

Serves the bundle on a free loopback port (uvicorn in a thread), drives Debian's Chromium
(/usr/bin/chromium) with Playwright, and saves the top of the page (predictions, influences, hidden
state, gates) as a PNG for the README.
"""
from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from rnnlab.studio.server import create_app

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=str(ROOT / "runs" / "demo" / "bundle"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "studio.png"))
    ap.add_argument("--text", default="what time is it?")
    ap.add_argument("--height", type=int, default=1450, help="pixels of the page to keep, from the top")
    args = ap.parse_args()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(args.bundle), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": args.height})
            page.goto(base + "/")
            page.locator("#text").fill(args.text)
            page.locator("#text").press("Enter")
            page.wait_for_function("document.body.dataset.state === 'done'")
            page.screenshot(path=args.out, clip={"x": 0, "y": 0, "width": 1000, "height": args.height})
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
