"""Credentials a process has already checked, so that a busy caller costs
no signature check (JWTs), no extra round trip and no JSON parse (API
keys) on every request, while every check still holds at once.

- JWTs: a token whose signature and claims were verified is kept with its
  principal until its ``exp``; every use compares ``exp`` with the clock,
  so an expired token is refused as without the cache. A JWT cannot be
  revoked, so keeping it changes nothing a caller sees.
- API keys: the principal built from a key's stored record is kept with
  that record's text. It only names the caller early (whose rate limit to
  count): the record is still read on every request, in the round trip
  that counts the rate limits (api.middleware), and the principal is used
  only if the record read is the one it was built from. A revoked key is
  refused at its next request, by every process.

Entries are keyed by the sha256 of the credential (no key or token is held
as text). Each kind keeps at most MAX_ENTRIES; when full it is emptied
(only valid credentials are kept, so only their holders can fill it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

MAX_ENTRIES = 4096
"""Credentials of each kind a process keeps at most."""


def wall() -> float:
    """Epoch seconds, compared with a JWT's ``exp`` (tests move it)."""
    return time.time()


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


class CredentialCache:
    """Principals of verified JWTs (until exp) and of API key records."""

    def __init__(self):
        self._keys: dict[str, tuple[str, Any]] = {}
        self._tokens: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # -- API keys -------------------------------------------------------------
    def key(self, key_hash: str, record: str | None = None):
        """The principal last built for this key hash; with ``record``, only
        if it was built from that record text."""
        hit = self._keys.get(key_hash)
        if hit is None or (record is not None and hit[0] != record):
            return None
        return hit[1]

    def keep_key(self, key_hash: str, record: str, principal) -> None:
        self._store(self._keys, key_hash, (record, principal))

    def forget_key(self, key_hash: str) -> None:
        self._keys.pop(key_hash, None)

    # -- JWTs -----------------------------------------------------------------
    def token(self, token_hash: str):
        """The principal of a verified token, while its exp is ahead."""
        hit = self._tokens.get(token_hash)
        if hit is None:
            return None
        if wall() >= hit[0]:
            self._tokens.pop(token_hash, None)
            return None
        return hit[1]

    def keep_token(self, token_hash: str, exp, principal) -> None:
        try:
            until = float(exp)
        except (TypeError, ValueError):
            return
        self._store(self._tokens, token_hash, (until, principal))

    def _store(self, table: dict, name: str, entry: tuple) -> None:
        if len(table) >= MAX_ENTRIES:
            with self._lock:
                if len(table) >= MAX_ENTRIES:
                    table.clear()
        table[name] = entry
