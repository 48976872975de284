"""Helpers for the full-Redis tests: a private redis-server under the
noeviction policy, filled to its maxmemory with junk and freed again, and a
snapshot of every key under a prefix (to prove a refused call wrote
nothing)."""

from __future__ import annotations

import contextlib
import subprocess
import time

import redis

from taskq.local.embedded import free_port

JUNK = "junk:"
HEADROOM = 8 * 1024 * 1024
"""Bytes of junk fill() writes and free() deletes."""


@contextlib.contextmanager
def private_server(binary: str, folder):
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder),
                             "--maxmemory-policy", "noeviction"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis.from_url(url).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def fill(client: redis.Redis) -> int:
    """Write HEADROOM bytes of junk, then set maxmemory a megabyte below what
    Redis now holds: every write that could grow memory is refused (the
    noeviction policy evicts nothing) until free() runs. Returns the junk
    keys written."""
    n, blob = HEADROOM // 65536, "x" * 65536
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{JUNK}{i}", blob)
    pipe.execute()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used - 1024 * 1024)
    return n


def free(client: redis.Redis) -> None:
    """Delete the junk: Redis takes writes again."""
    keys = list(client.scan_iter(match=f"{JUNK}*", count=1000))
    if keys:
        client.delete(*keys)


def snapshot(client: redis.Redis, prefix: str) -> dict:
    """Every key under ``prefix`` with its type and whole value."""
    out = {}
    for key in sorted(client.scan_iter(match=f"{prefix}:*", count=1000)):
        kind = client.type(key)
        if kind == "hash":
            value = client.hgetall(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = client.get(key)
        out[key] = (kind, value)
    return out


@contextlib.contextmanager
def unlimited(client: redis.Redis):
    """No maxmemory for a moment (Redis refuses MULTI/EXEC, even of reads,
    when full): for a test's atomic consistency check."""
    limit = client.config_get("maxmemory")["maxmemory"]
    client.config_set("maxmemory", 0)
    try:
        yield
    finally:
        client.config_set("maxmemory", limit)
