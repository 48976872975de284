"""A throwaway Redis Cluster on loopback, for tests and benchmarks.

``LocalCluster`` starts ``masters`` redis-server processes with
``--cluster-enabled yes`` on free loopback ports (each with its cluster bus
port, port + 10000, free too), joins them with ``redis-cli --cluster create``
(no replicas), waits until every node reports ``cluster_state:ok``, and stops
them and removes their directory on exit. The data lives in memory only (no
RDB, no AOF): it is a scratch cluster, not a store. With ``tls`` (certificate,
key and CA files) the nodes speak only TLS, to clients and to each other
(``--tls-cluster yes``), and the URL is ``rediss+cluster://``.

``python -m taskq.local.cluster`` runs one in the foreground and prints its
URL (``redis+cluster://127.0.0.1:<port>``) as its first line; scripts/test
uses it for the cluster pass.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .parent_death import signal_on_parent_death

START_TIMEOUT = 20.0
BUS_OFFSET = 10000
"""Redis Cluster's node-to-node bus listens on the client port + 10000."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(n: int) -> list[int]:
    """n loopback ports, each free along with its cluster bus port."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + BUS_OFFSET < 65536 and port not in ports and _port_free(port + BUS_OFFSET):
            ports.append(port)
    return ports


class LocalCluster:
    """``with LocalCluster() as c: c.url`` -- a running n-master cluster."""

    def __init__(self, masters: int = 3, server: str | None = None, cli: str | None = None,
                 tls: tuple[str, str, str] | None = None):
        self.masters = masters
        self.tls = tls  # (cert file, key file, CA file), absolute paths
        self.server = server or shutil.which("redis-server") or "redis-server"
        self.cli = cli or shutil.which("redis-cli") or "redis-cli"
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []
        self.dir: Path | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}+cluster://127.0.0.1:{self.ports[0]}"

    @property
    def node_urls(self) -> list[str]:
        return [f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{p}/0" for p in self.ports]

    def start(self) -> "LocalCluster":
        self.dir = Path(tempfile.mkdtemp(prefix="taskq-cluster-"))
        try:
            self.ports = cluster_ports(self.masters)
            for port in self.ports:
                self.procs.append(self._spawn(port))
            for port in self.ports:
                self._wait(lambda p=port: self._cli(p, "ping").strip() == "PONG")
            subprocess.run(
                [self.cli, *self._cli_tls(), "--cluster", "create",
                 *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=START_TIMEOUT)
            for port in self.ports:
                self._wait(lambda p=port: "cluster_state:ok" in self._cli(p, "cluster", "info"))
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int) -> subprocess.Popen:
        node_dir = self.dir / str(port)
        node_dir.mkdir()
        listen = ["--port", str(port)]
        if self.tls:
            cert, key, ca = self.tls
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes",
                      "--tls-replication", "yes", "--tls-cert-file", cert, "--tls-key-file", key,
                      "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        return subprocess.Popen(
            [self.server, *listen, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
             "--dir", str(node_dir), "--save", "", "--appendonly", "no",
             "--logfile", str(node_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: signal_on_parent_death(signal.SIGTERM))

    def _cli_tls(self) -> list[str]:
        return ["--tls", "--cacert", self.tls[2]] if self.tls else []

    def _cli(self, port: int, *args: str) -> str:
        done = subprocess.run(
            [self.cli, *self._cli_tls(), "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True, text=True, timeout=5)
        return done.stdout

    def _wait(self, ready) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a cluster node exited; logs in {self.dir}")
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                if ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the local cluster did not come up within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskq.local.cluster",
                                     description="Run a scratch Redis Cluster on loopback.")
    parser.add_argument("--masters", type=int, default=3)
    args = parser.parse_args(argv)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    with LocalCluster(args.masters) as cluster:
        print(cluster.url, flush=True)
        while not stop and all(p.poll() is None for p in cluster.procs):
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
