"""Fetch the Mermaid build the task diagram page serves (3.5 MB, not kept in
git): the file dist/mermaid.min.js of the npm package at the pinned version,
from the npm registry ($npm_config_registry, else registry.npmjs.org), its
sha256 checked against the pin before it is written. Stdlib only; run by
scripts/run and scripts/test (through scripts/_venv.sh), or by hand in a
deployment's build step: python scripts/fetch_assets.py

Exits 0 when the file is in place (already, or now), 1 when it could not be
fetched: taskq then serves the diagram's text instead of drawing it.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

MERMAID_VERSION = "11.17.2"
MERMAID_SHA256 = "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8"
TARGET = Path(__file__).resolve().parent.parent / "api" / "dialects" / "tasker" / "static" / "mermaid.min.js"
TIMEOUT = 120


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tarball_url() -> str:
    registry = os.environ.get("npm_config_registry") or "https://registry.npmjs.org/"
    return f"{registry.rstrip('/')}/mermaid/-/mermaid-{MERMAID_VERSION}.tgz"


def fetch() -> bytes:
    with urllib.request.urlopen(tarball_url(), timeout=TIMEOUT) as resp:
        archive = resp.read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("package/dist/mermaid.min.js")
        if member is None:
            raise ValueError("the package holds no dist/mermaid.min.js")
        return member.read()


def main() -> int:
    if TARGET.is_file() and sha256(TARGET.read_bytes()) == MERMAID_SHA256:
        return 0
    try:
        data = fetch()
    except (OSError, ValueError, tarfile.TarError) as exc:
        why = " ".join(str(exc).split())  # one line, whatever the error holds
        print(f"taskq: could not fetch Mermaid {MERMAID_VERSION} from {tarball_url()} ({why}); "
              "task diagrams are shown as text", file=sys.stderr)
        return 1
    if sha256(data) != MERMAID_SHA256:
        print(f"taskq: Mermaid {MERMAID_VERSION} from {tarball_url()} is not the pinned build "
              f"(sha256 {sha256(data)}); not used: task diagrams are shown as text", file=sys.stderr)
        return 1
    partial = TARGET.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(TARGET)
    print(f"taskq: fetched Mermaid {MERMAID_VERSION} for the task diagram page", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
