"""Browser tests: the Flask app served on 127.0.0.1 from a thread, and
headless Chromium (Debian's, driven by Playwright) looking at it.

    def test_x(live_server, make_page):
        page = make_page(headers=live_server.auth("admin"))
        page.goto(live_server.url("/tasker/..."))
        ...
        assert page.console_errors == [] and page.foreign_requests() == []

The browser comes from scripts/browser.sh, which installs Debian's
``chromium`` when none is found and it may (root, apt-get); only when no
browser can be had do these tests skip. Playwright never downloads one.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from api import create_app
from api.auth import mint_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "browser-test-secret-0123456789abcdef0123"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL_TIMEOUT = 900
"""Seconds scripts/browser.sh may take to install Chromium (apt-get)."""


def find_chromium() -> str | None:
    """The path scripts/browser.sh prints (after installing, if it can)."""
    try:
        out = subprocess.run(["bash", str(ROOT / "scripts" / "browser.sh")], capture_output=True,
                             text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = out.stdout.strip().splitlines()[-1:] if out.returncode == 0 else []
    return path[0] if path else None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium and none can be installed (scripts/browser.sh)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium for the session; each test gets its own context."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class LiveServer:
    """The app on http://127.0.0.1:<port>."""

    base: str
    secret: str = SECRET

    def url(self, path: str) -> str:
        return self.base + path

    def auth(self, *scopes: str) -> dict:
        return {"Authorization": f"Bearer {mint_token(self.secret, 'browser-test', scopes, 600)}"}


@pytest.fixture
def serve():
    """serve(app) -> LiveServer: the app served from a thread until the test ends."""
    servers = []

    def start(app) -> LiveServer:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        servers.append((server, thread))
        return LiveServer(f"http://127.0.0.1:{server.server_port}")

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def live_app(r, prefix):
    """The app on the test's key prefix, with a high per-caller rate limit."""
    return create_app({"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                       "TASKQ_RATE_LIMIT": "100000/60"})


@pytest.fixture
def live_server(live_app, serve) -> LiveServer:
    return serve(live_app)


@dataclass
class Page:
    """A Playwright page plus what it did: console errors, uncaught
    exceptions, and every URL it requested."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.page, name)

    def foreign_requests(self, host: str = "127.0.0.1") -> list[str]:
        """Requests to any host but ``host`` (data: and about: URLs are not requests)."""
        return [u for u in self.requests
                if urlsplit(u).scheme not in ("data", "about", "blob") and urlsplit(u).hostname != host]


@pytest.fixture
def make_page(browser):
    """make_page(headers=None) -> Page in a fresh context that sends
    ``headers`` with every request (e.g. Authorization)."""
    contexts = []

    def make(headers: dict | None = None, viewport: dict | None = None) -> Page:
        ctx = browser.new_context(extra_http_headers=headers or {},
                                  viewport=viewport or {"width": 1000, "height": 700})
        contexts.append(ctx)
        page = ctx.new_page()
        seen = Page(page)
        page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: seen.console_errors.append(f"uncaught: {exc}"))
        page.on("request", lambda req: seen.requests.append(req.url))
        return seen

    yield make
    for ctx in contexts:
        ctx.close()


def _chromium_visible() -> bool:
    return any(Path(p).exists() for p in (os.environ.get("TASKQ_TEST_CHROMIUM") or "/nonexistent",
                                          "/usr/bin/chromium", "/usr/bin/chromium-browser"))


def pytest_collection_modifyitems(config, items):
    """With no Chromium yet, the first browser test may spend minutes
    installing one: give the browser tests room for that."""
    if _chromium_visible():
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INSTALL_TIMEOUT + 120))
