"""What the dashboard's browser tests share: logging a page in through the
form, running a real burst worker, and saving the README's screenshots
(only with TASKQ_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from api.auth import mint_token

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
LAPTOP = {"width": 1200, "height": 860}
PHONE = {"width": 390, "height": 844}


def log_in(live_server, make_page, *scopes: str, viewport: dict | None = None):
    """A page logged in through the login form with a JWT carrying ``scopes``."""
    page = make_page(viewport=viewport or LAPTOP)
    page.on("dialog", lambda d: d.accept())  # the confirm() of a button
    page.goto(live_server.url("/dashboard/"))
    assert "/dashboard/login" in page.url
    page.fill("#credential", mint_token(live_server.secret, "oncall", list(scopes), 600))
    page.click("form button[type=submit]")
    page.wait_for_url(live_server.url("/dashboard/"))
    return page


def no_reload_marker(page) -> None:
    """Set a flag that a full reload would wipe."""
    page.evaluate("window.__taskqNoReload = true")


def still_same_document(page) -> bool:
    return page.evaluate("window.__taskqNoReload === true")


def run_worker(redis_url: str, prefix: str, queue: str) -> None:
    """One real ``taskq worker --burst`` on ``queue`` until it is empty."""
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "-q", queue],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def screenshot(page, name: str, tmp_path: Path, full_page: bool = True) -> Path:
    """Save docs/images/dashboard-<name>.png when TASKQ_UPDATE_SCREENSHOTS=1."""
    shot = tmp_path / f"dashboard-{name}.png"
    page.screenshot(path=str(shot), full_page=full_page)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("TASKQ_UPDATE_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, IMAGES / shot.name)
    return shot
