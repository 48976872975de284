"""What ``taskq start`` keeps in its state folder (``.taskq``, or
``TASKQ_STATE_DIR``), for the other ``taskq`` commands of that folder: the
embedded Redis's URL while it runs, and the JWT secret of local runs. Both
files are private to the user (0600) and the folder says git should ignore
it."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

STATE_DIR_ENV = "TASKQ_STATE_DIR"
"""Where ``taskq start`` keeps its local state (default ``.taskq``): the
embedded Redis's data in ``redis/``, its current URL in ``redis.url``, and
the JWT secret of local runs in ``jwt.secret``."""
URL_FILE = "redis.url"
JWT_SECRET_ENV = "TASKQ_JWT_SECRET"
JWT_SECRET_FILE = "jwt.secret"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or ".taskq")


def ensure_state_dir() -> Path:
    """The state folder, made when missing, with a ``.gitignore`` of ``*`` in
    it: what it holds (a secret, a URL, Redis's data) never belongs in a
    project's repository."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(OSError):
            ignore.write_text("# taskq's local state (taskq start): a secret, a URL, Redis's data\n*\n")
    return folder


def url_file() -> Path:
    """The file in which a running ``taskq start`` leaves its embedded Redis's URL."""
    return state_dir() / URL_FILE


def write_url_file(url: str) -> Path:
    """Record ``url`` for the CLI (mode 0600; removed when the server stops)."""
    ensure_state_dir()
    path = url_file()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(url + "\n")
    os.replace(tmp, path)
    return path


def remove_url_file(url: str) -> None:
    """Remove the URL file if it still names ``url`` (not a later start's)."""
    path = url_file()
    with contextlib.suppress(OSError):
        if path.read_text().strip() == url:
            path.unlink()


def jwt_secret_file() -> Path:
    """Where ``taskq start`` keeps the JWT secret it gives its web process."""
    return state_dir() / JWT_SECRET_FILE


def read_jwt_secret_file() -> str | None:
    """The secret in :func:`jwt_secret_file`, or None when there is none.
    Read only from a regular file of this user (a symlink there, or a file
    someone else owns, is not the secret ``taskq start`` made), which is
    made private (0600) if it was not."""
    try:
        fd = os.open(jwt_secret_file(), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd) as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return None
        if info.st_mode & 0o077:  # a secret others may read: no longer
            os.fchmod(fh.fileno(), 0o600)
        return fh.read().strip() or None


def ensure_jwt_secret_file() -> str:
    """The JWT secret of local runs, made on the first ``taskq start`` and
    kept (mode 0600) so that tokens minted by ``taskq auth token`` in any
    shell of this folder, and across restarts, are the ones the web process
    accepts. Two starts racing here agree on one secret: the file appears
    whole, by a hard link that only the first can make; the file it links
    is new (O_EXCL, no symlink followed) and private from its creation."""
    import secrets

    found = read_jwt_secret_file()
    if found is None:
        ensure_state_dir()
        path = jwt_secret_file()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # left by a process of this pid that died here
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        found = read_jwt_secret_file()
        if found is None:
            raise OSError(f"could not read {path} back (not a regular file of this user?)")
    return found


def resolve_jwt_secret(secret: str | None) -> tuple[str | None, str | None]:
    """The JWT secret a command should sign with, and a note to print when it
    was not given: an explicit ``secret`` (TASKQ_JWT_SECRET) wins silently;
    else the one ``taskq start`` keeps in ``.taskq/jwt.secret``, said on
    stderr as the Redis URL found there is; else None and why. The note
    names the file, never the secret."""
    if secret:
        return secret, None
    path = jwt_secret_file()
    found = read_jwt_secret_file()
    if found:
        return found, f"taskq: {JWT_SECRET_ENV} is not set: using the secret of taskq start ({path})"
    return None, (f"{JWT_SECRET_ENV} is not set and no taskq start has made a secret here "
                  f"(no {path}): set it to the web process's {JWT_SECRET_ENV}")
