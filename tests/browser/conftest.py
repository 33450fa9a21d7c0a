"""What the browser tests share: Chromium, and a quiet local server for a folder.

Each test module still decides at import time whether it can run (Chromium, and
for some the built book); these fixtures only launch and serve.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
HTML = Path(__file__).resolve().parents[2] / "_build" / "html"
# Chromium as root in a container: no sandbox; no background traffic to Google.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@contextmanager
def _serve(directory: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def serve() -> Callable[[Path], AbstractContextManager[str]]:
    """``with serve(folder) as url:`` serves ``folder`` on localhost."""
    return _serve


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The built book, served on localhost."""
    with _serve(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's package) driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
