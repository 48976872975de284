"""The JWT secret of local runs: ``taskq start`` makes one on its first run,
keeps it in the state folder (mode 0600), gives it to the web process it
starts, and ``taskq auth token`` in another shell (no TASKQ_JWT_SECRET
there) signs with the same one, so the walkthrough's token is accepted. An
explicit TASKQ_JWT_SECRET wins everywhere, and the secret is never printed.

Every test has its own state folder (TASKQ_STATE_DIR), so its own embedded
Redis, and never reads a developer's ``.taskq/``."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from taskq.local import state_files

from local_start_helpers import REPO, http_status, local_starts, shell_env as newcomer_env

EXPLICIT = "explicit-secret-0123456789abcdef0123456789"


def shell_env(state: Path, **extra: str) -> dict:
    """A shell of this folder as a newcomer has it: no REDIS_URL, no
    TASKQ_JWT_SECRET, only the state folder."""
    return newcomer_env(state, drop=("TASKQ_JWT_SECRET",), **extra)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def token_cli(state: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taskq.cli", "auth", "token", "--sub", "me", "-s", "tasks:read"],
        cwd=REPO, env=shell_env(state, **extra), capture_output=True, text=True, timeout=60)


def status(url: str, token: str | None = None) -> int:
    return http_status(url, f"Bearer {token}" if token else None)


@pytest.fixture
def start(tmp_path):
    yield from local_starts(tmp_path, shell_env)


# -- the file and the CLI, without a server -----------------------------------

def test_secret_file_is_made_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKQ_STATE_DIR", str(tmp_path / "state"))
    first = state_files.ensure_jwt_secret_file()
    path = tmp_path / "state" / "jwt.secret"
    assert path.read_text().strip() == first and len(first) >= 32
    assert mode(path) == 0o600
    assert state_files.ensure_jwt_secret_file() == first  # kept, not made again
    path.chmod(0o644)
    assert state_files.ensure_jwt_secret_file() == first and mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [".gitignore", "jwt.secret"]  # no temporary left


def test_explicit_secret_wins_and_the_note_never_shows_the_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKQ_STATE_DIR", str(tmp_path))
    assert state_files.resolve_jwt_secret(None) == (None, state_files.resolve_jwt_secret("")[1])
    assert "TASKQ_JWT_SECRET is not set" in state_files.resolve_jwt_secret(None)[1]
    kept = state_files.ensure_jwt_secret_file()
    assert state_files.resolve_jwt_secret(EXPLICIT) == (EXPLICIT, None)
    secret, note = state_files.resolve_jwt_secret(None)
    assert secret == kept and str(tmp_path / "jwt.secret") in note and kept not in note


def test_token_cli_without_any_secret_says_so_in_one_line(tmp_path):
    proc = token_cli(tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "TASKQ_JWT_SECRET is not set" in lines[0], proc.stderr
    assert str(tmp_path / "jwt.secret") in lines[0]


def test_token_cli_signs_with_the_kept_secret_unless_one_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKQ_STATE_DIR", str(tmp_path))
    kept = state_files.ensure_jwt_secret_file()
    proc = token_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert jwt.decode(proc.stdout.strip(), kept, algorithms=["HS256"])["sub"] == "me"
    assert "using the secret of taskq start" in proc.stderr and kept not in proc.stderr
    proc = token_cli(tmp_path, TASKQ_JWT_SECRET=EXPLICIT)
    assert proc.returncode == 0, proc.stderr
    assert jwt.decode(proc.stdout.strip(), EXPLICIT, algorithms=["HS256"])["sub"] == "me"
    assert proc.stderr == ""


# -- with taskq start ---------------------------------------------------------

def test_start_gives_its_web_process_the_kept_secret(start, tmp_path):
    state = tmp_path / "state"
    first = start(state, "first")
    text = first.wait_ready()
    path = state / "jwt.secret"
    secret = path.read_text().strip()
    assert mode(path) == 0o600
    assert secret not in text
    assert f"dashboard {first.base}/dashboard/" in text

    made = token_cli(state)  # a second shell: TASKQ_JWT_SECRET is not set there
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert status(f"{first.base}/api/tasks", token) == 200
    other = jwt.encode({"sub": "me", "scopes": ["tasks:read"], "exp": int(time.time()) + 60},
                       "another-secret-0123456789abcdef012345", algorithm="HS256")
    assert status(f"{first.base}/api/tasks", other) == 401
    first.stop()
    assert path.read_text().strip() == secret  # kept when taskq start stops

    again = start(state, "again")
    assert secret not in again.wait_ready()
    assert path.read_text().strip() == secret  # not made again
    assert status(f"{again.base}/api/tasks", token) == 200  # tokens outlive a restart


def test_explicit_secret_at_start_wins_over_the_kept_one(start, tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("TASKQ_STATE_DIR", str(state))
    kept = state_files.ensure_jwt_secret_file()
    s = start(state, "explicit", TASKQ_JWT_SECRET=EXPLICIT)
    text = s.wait_ready()
    assert EXPLICIT not in text and kept not in text
    assert (state / "jwt.secret").read_text().strip() == kept  # left as it was
    from_file = token_cli(state).stdout.strip()
    explicit = token_cli(state, TASKQ_JWT_SECRET=EXPLICIT).stdout.strip()
    assert status(f"{s.base}/api/tasks", explicit) == 200
    assert status(f"{s.base}/api/tasks", from_file) == 401


def test_a_symlink_or_a_file_of_another_kind_is_not_taken_for_the_secret(tmp_path, monkeypatch):
    """Only a regular file of this user is read as the secret: a symlink at
    its name (to a file others wrote) is refused, and the folder tells git
    to ignore everything in it."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("TASKQ_STATE_DIR", str(state))
    planted = tmp_path / "planted"
    planted.write_text("not-the-secret\n")
    (state / "jwt.secret").symlink_to(planted)
    assert state_files.read_jwt_secret_file() is None
    with pytest.raises(OSError):
        state_files.ensure_jwt_secret_file()  # the link stays; nothing is written through it
    assert planted.read_text() == "not-the-secret\n"
    (state / "jwt.secret").unlink()
    made = state_files.ensure_jwt_secret_file()
    assert made != "not-the-secret" and mode(state / "jwt.secret") == 0o600
    assert (state / ".gitignore").read_text().splitlines()[-1] == "*"
