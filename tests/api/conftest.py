"""An app per test on the test's own key prefix, and credentials for it."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from apihelpers import SECRET, bearer

from api import create_app, ratelimit


@pytest.fixture(autouse=True)
def rate_windows_start_with_the_test(monkeypatch):
    """Count rate windows on a clock that starts just after an hour boundary
    (a multiple of every window the tests use) and runs at real speed, so a
    test's burst never straddles two fixed windows and sees two budgets.
    The boundary is the next one, so X-RateLimit-Reset stays in the future."""
    base = (int(time.time()) // 3600 + 1) * 3600 + 1
    started = time.monotonic()
    monkeypatch.setattr(ratelimit, "clock", lambda: base + (time.monotonic() - started))


@pytest.fixture
def make_app(r, prefix):
    made = []

    def make(**overrides):
        cfg = {"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
               "TASKQ_RATE_LIMIT": "100000/60", "TASKQ_TASKER_RATE_LIMIT": "100000/60",
               "TASKQ_CORS_ORIGINS": "https://ui.example.com"}
        cfg.update(overrides)
        made.append(create_app(cfg))
        return made[-1]
    yield make
    for app in made:  # request counts still held go in now, before the prefix is deleted
        counts = app.extensions.get("taskq_request_counts")
        if counts is not None:
            counts.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin() -> dict:
    return bearer("admin")


@pytest.fixture
def dts(make_queue):
    """The engine queue behind the DTS dialect."""
    return make_queue("dts")


@pytest.fixture(scope="session")
def axios_dir(tmp_path_factory):
    """A folder with axios installed by npm, for the documents' JavaScript
    clients (skipped when node or npm cannot be had)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the JavaScript client")
    where = tmp_path_factory.mktemp("axios")
    try:
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(where),
                        "axios@1"], check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install axios with npm: {exc}")
    return where
