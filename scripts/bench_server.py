"""A private redis-server for the benchmark, and what it says about its work.

INFO commandstats is server-wide, so figures read from it count only the
benchmark's own traffic on a server the benchmark owns: PrivateRedis starts
one on a free loopback port (redis-server on PATH, which is the version a
deployment runs, else the binary taskq.local.embedded ships), with no
persistence, in a temporary folder, and stops it at the end. Being ours,
it may be flushed between measurements.

Commands a Lua script runs are counted by commandstats too, under their own
names, and their time is inside the script's. ``CallSplit`` (MONITOR, which
tags them ``lua``) learns from a small run which share of each command's
calls came from clients, so that ``usage`` can keep script time and the
time of commands sent outside scripts apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass

import redis

from taskq.local import embedded

SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
HARNESS_COMMANDS = frozenset({"info", "config", "monitor", "echo"})
"""The benchmark's own commands (INFO, CONFIG RESETSTAT, MONITOR and its
ECHO marks): never counted as a side's work. Neither taskq nor BullMQ
sends them while a measurement runs."""


def redis_binary() -> str:
    return shutil.which("redis-server") or embedded.redis_server_path()


class PrivateRedis:
    """A redis-server child on 127.0.0.1:<free port>; ``stop()`` it or use ``with``."""

    def __init__(self, binary: str | None = None):
        self.binary = binary or redis_binary()
        self.dir = tempfile.mkdtemp(prefix="taskq-bench-redis-")
        self.proc = None
        for _ in range(3):  # a free port can be taken before the server binds it
            self.port = embedded.free_port()
            if self._start():
                break
        else:
            self.stop()
            raise RuntimeError(f"the private redis-server did not start: {self.log_tail()}")
        self.client = redis.Redis.from_url(self.url, decode_responses=True)
        self.version = self.client.info("server")["redis_version"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> bool:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--logfile", "redis.log"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + embedded.START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_timeout=1).info("server")["process_id"] \
                        == self.proc.pid:
                    return True
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return False

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return " | ".join(f.read().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def flush(self) -> None:
        """Empty the private server (it holds nothing but the benchmark's keys)."""
        self.client.flushall()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def describe(self) -> str:
        return f"private redis-server {self.version} ({self.binary}, no persistence)"


def command_stats(r: redis.Redis) -> dict[str, tuple[int, int]]:
    """{command: (calls, usec)} from INFO commandstats; subcommands
    (``client|setname`` on Redis 7) are summed under their command."""
    out: dict[str, tuple[int, int]] = {}
    for key, v in r.info("commandstats").items():
        name = key.removeprefix("cmdstat_").split("|")[0].lower()
        calls, usec = out.get(name, (0, 0))
        out[name] = (calls + int(v["calls"]), usec + int(v["usec"]))
    return out


def command_calls(r: redis.Redis) -> int:
    """Commands the server has run since the last reset, the benchmark's own left out."""
    return sum(c for name, (c, _) in command_stats(r).items() if name not in HARNESS_COMMANDS)


@dataclass
class Usage:
    """Redis time and calls over one measured operation."""

    tasks: int
    seconds: float
    script_usec: float
    script_calls: float
    command_usec: float
    command_calls: float

    def per_task(self) -> dict[str, float]:
        n = max(self.tasks, 1)
        return {"script_us": self.script_usec / n, "command_us": self.command_usec / n,
                "total_us": (self.script_usec + self.command_usec) / n,
                "script_calls": self.script_calls / n, "command_calls": self.command_calls / n,
                "rate": self.tasks / self.seconds if self.seconds else 0.0}


def usage(stats: dict[str, tuple[int, int]], tasks: int, seconds: float,
          client_share: dict[str, float] | None = None, own: Counter | None = None) -> Usage:
    """Script time and outside-script command time from ``stats``.

    ``client_share``: per command, the share of its calls sent by clients
    (the rest ran inside scripts, whose time already holds them); a command
    not in it counts as sent by clients. ``own``: calls the benchmark itself
    sent (its polls), taken out at their command's mean time per call."""
    client_share = client_share or {}
    own = own or Counter()
    script_usec = script_calls = command_usec = command_calls = 0.0
    for name, (calls, usec) in stats.items():
        if name in HARNESS_COMMANDS or not calls:
            continue
        mine = min(own.get(name, 0), calls)
        usec -= usec * mine / calls
        calls -= mine
        if name in SCRIPT_COMMANDS:
            script_usec += usec
            script_calls += calls
        else:
            share = client_share.get(name, 1.0)
            command_usec += usec * share
            command_calls += calls * share
    return Usage(tasks, seconds, script_usec, script_calls, command_usec, command_calls)


class CallSplit:
    """Counts, per command, the calls sent by clients and those run inside
    scripts between ``start()`` and ``stop()`` (MONITOR on its own connection)."""

    START, END = "taskq-bench-monitor-start", "taskq-bench-monitor-end"

    def __init__(self, url: str):
        self.url = url
        self.clients: Counter = Counter()
        self.scripts: Counter = Counter()
        self.marker = redis.Redis.from_url(url)
        self.conn = redis.Redis.from_url(url).connection_pool.get_connection()
        self.conn.send_command("MONITOR")
        self.conn.read_response()  # OK
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        counting = False
        while True:
            line = self.conn.read_response()
            if isinstance(line, str):
                line = line.encode()
            head, _, rest = line.partition(b'] "')
            name = rest.split(b'"', 1)[0].decode(errors="replace").lower()
            if name == "echo":
                if self.START.encode() in rest:
                    counting = True
                elif self.END.encode() in rest:
                    return
                continue
            if counting and name not in HARNESS_COMMANDS:
                (self.scripts if head.endswith(b" lua") else self.clients)[name] += 1

    def start(self) -> None:
        self.marker.echo(self.START)

    def stop(self) -> dict[str, float]:
        """{command: share of its calls sent by clients}."""
        self.marker.echo(self.END)
        self.thread.join(60)
        with contextlib.suppress(Exception):
            self.conn.disconnect()
        self.marker.close()
        names = set(self.clients) | set(self.scripts)
        return {n: self.clients[n] / (self.clients[n] + self.scripts[n]) for n in names}


class CountingRedis(redis.Redis):
    """A client that counts the commands it sends (the benchmark's polls)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: Counter = Counter()

    def execute_command(self, *args, **options):
        self.sent[str(args[0]).split()[0].lower()] += 1
        return super().execute_command(*args, **options)
