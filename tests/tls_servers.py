"""Redis over TLS for the tests: a self-signed certificate made by openssl
(its own CA, naming 127.0.0.1 and localhost), one redis-server listening
only on a TLS port, and a 3-master cluster whose nodes speak only TLS, to
clients and to each other (taskq.local.cluster with ``tls``).

A test using them is skipped only when this machine cannot run them: no
openssl, or a redis-server built without TLS (it refuses ``tls-port`` as
a bad directive). Any other failure to start is a failure."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from taskq.local.embedded import free_port
from taskq.local.cluster import LocalCluster

START_TIMEOUT = 20.0


class Certificate:
    """cert.pem (also the CA to trust) and key.pem in ``folder``."""

    def __init__(self, folder: Path):
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("openssl is needed to make a test certificate")
        self.cert, self.key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
             "-subj", "/CN=taskq-test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True, timeout=60)

    @property
    def files(self) -> tuple[str, str, str]:
        """(certificate, key, CA) as redis-server and LocalCluster take them."""
        return str(self.cert), str(self.key), str(self.cert)


class TlsRedis:
    """``with TlsRedis(cert) as server: server.url`` -- a redis-server on a
    TLS port only (``--port 0``), clients not asked for certificates."""

    def __init__(self, cert: Certificate, server: str | None = None):
        self.cert = cert
        self.server = server or shutil.which("redis-server") or "redis-server"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None

    @property
    def url(self) -> str:
        """The URL with nothing relaxed: verification on, as by default."""
        return f"rediss://127.0.0.1:{self.port}/0"

    def start(self) -> "TlsRedis":
        self.dir = Path(tempfile.mkdtemp(prefix="taskq-tls-"))
        self.port = free_port()
        cert, key, ca = self.cert.files
        self.proc = subprocess.Popen(
            [self.server, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
             "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        trusting = redis.Redis.from_url(f"{self.url}?ssl_ca_certs={ca}", socket_timeout=1,
                                        socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.proc.stdout.read() + self._log()
                self.stop()
                if "Bad directive" in said and "tls-port" in said:
                    pytest.skip(f"{self.server} was built without TLS")
                raise RuntimeError(f"redis-server with TLS exited: {said[-2000:]}")
            try:
                if trusting.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server with TLS did not answer within {START_TIMEOUT:.0f} s")

    def _log(self) -> str:
        try:
            return (self.dir / "redis.log").read_text()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "TlsRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def tls_cluster(cert: Certificate) -> LocalCluster:
    """A started 3-master TLS cluster (the caller stops it); skipped like
    TlsRedis when redis-server cannot do TLS (checked on one server first,
    since a cluster node that exits leaves no reason)."""
    with TlsRedis(cert):
        pass
    return LocalCluster(tls=cert.files).start()


WEB_SECRET = "tls-test-secret-0123456789abcdef0123"
"""The JWT secret the web-app checks over TLS sign their admin token with."""


def web_app_creates_a_task(url: str, prefix: str):
    """A task made and read back through ``create_app`` on the Redis at
    ``url`` (the TLS settings come from the environment); the test client."""
    from api import create_app
    from api.auth import mint_token

    app = create_app({"REDIS_URL": url, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": WEB_SECRET})
    client = app.test_client()
    admin = {"Authorization": f"Bearer {mint_token(WEB_SECRET, 'tls', ['admin'], 600)}"}
    made = client.post("/api/tasks", json={"name": "over tls", "command": "echo hi"}, headers=admin)
    assert made.status_code == 201, made.json
    got = client.get(f"/api/tasks/{made.json['data']['id']}", headers=admin)
    assert got.status_code == 200 and got.json["data"]["name"] == "over tls"
    return client
