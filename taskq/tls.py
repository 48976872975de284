"""Redis over TLS (``rediss://``, ``rediss+cluster://``): the server's
certificate is checked unless the operator says otherwise.

redis-py checks it by default (it must chain to a CA this machine trusts
and name the host), and so does taskq. Managed Redis services (Heroku
Redis among them) present a certificate no client can verify; the operator
then relaxes the check for every process, in one of two ways:

- in the URL, with redis-py's own query parameters (RQ's CLI and any
  redis-py client read them too): ``?ssl_cert_reqs=none`` (no check) or
  ``?ssl_ca_certs=/path/ca.pem`` (trust that CA);
- beside the URL, when the URL is not the operator's to edit (Heroku's
  add-on sets REDIS_URL): ``TASKQ_REDIS_SSL_CERT_REQS=none`` or
  ``TASKQ_REDIS_SSL_CA_CERTS=/path/ca.pem``. ``client_from_url``
  (taskq.connection) applies them, and so do the classes RQ's CLI can be
  told to build its client with (:class:`TaskqRedis`,
  taskq.cluster.TaskqCluster).

A parameter in the URL wins over the setting. A level other than ``none``,
``optional`` or ``required``, or a CA file that is not there, is refused
when the client is made (:class:`TlsSettingError`, one line), not at the
first command. A certificate refused while connecting is explained in one
line by :func:`certificate_problem`.
"""

from __future__ import annotations

import os
import re
import ssl
from urllib.parse import parse_qs, urlsplit

import redis

CERT_REQS_SETTING = "TASKQ_REDIS_SSL_CERT_REQS"
CA_CERTS_SETTING = "TASKQ_REDIS_SSL_CA_CERTS"
CERT_REQS = ("none", "optional", "required")
"""The levels redis-py takes for ``ssl_cert_reqs``."""
TLS_SCHEMES = ("rediss", "rediss+cluster")


class TlsSettingError(ValueError):
    """A TLS setting (or URL parameter) redis-py could not use; one line."""

    def __init__(self, setting: str, value: str, expected: str):
        super().__init__(f"{setting}={value!r} is not valid: expected {expected}")
        self.setting, self.value, self.expected = setting, value, expected


def tls_kwargs(url: str) -> dict:
    """The connection settings to give redis-py for ``url`` beside what the
    URL itself says: from the TASKQ_REDIS_SSL_* settings, for TLS URLs only
    (redis-py lets a URL parameter override a keyword anyway). Raises
    TlsSettingError for a value that would only fail at the first command."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in TLS_SCHEMES:
        return {}
    query = {name: values[0] for name, values in parse_qs(parts.query).items() if values}
    out: dict = {}
    reqs = query.get("ssl_cert_reqs")
    if reqs is not None and reqs not in CERT_REQS:
        raise TlsSettingError("ssl_cert_reqs (a parameter of the Redis URL)", reqs,
                              "none, optional or required")
    if reqs is None and (setting := os.environ.get(CERT_REQS_SETTING, "").strip()):
        reqs = setting.lower()
        if reqs not in CERT_REQS:
            raise TlsSettingError(CERT_REQS_SETTING, setting, "none, optional or required")
        out["ssl_cert_reqs"] = reqs
    if reqs == "none" and "ssl_check_hostname" not in query:
        out["ssl_check_hostname"] = False  # redis-py 6.0 refuses CERT_NONE beside a hostname check
    ca, where = query.get("ssl_ca_certs"), "ssl_ca_certs (a parameter of the Redis URL)"
    if ca is None and (setting := os.environ.get(CA_CERTS_SETTING, "").strip()):
        ca, where = setting, CA_CERTS_SETTING
        out["ssl_ca_certs"] = ca
    if ca is not None and not os.path.isfile(ca):
        raise TlsSettingError(where, ca, "a file of CA certificates (PEM) that exists")
    return out


_VERIFY_FAILED = re.compile(r"certificate verify failed: (.+?)(?: \(_ssl\.c:\d+\))?\.?$")


def certificate_problem(exc: BaseException) -> str | None:
    """One line saying that the server's TLS certificate was refused, why,
    and what to set; None when ``exc`` is about anything else. redis-py
    wraps the ssl error in its own (in a cluster's, as text only)."""
    reason = None
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = seen.verify_message or str(seen)
            break
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    if reason is None:
        text = str(exc).strip()
        if "CERTIFICATE_VERIFY_FAILED" not in text:
            return None
        found = _VERIFY_FAILED.search(text.splitlines()[0] if text else "")
        reason = found.group(1) if found else "certificate verify failed"
    return (f"the Redis server's TLS certificate was refused ({reason}): trust its CA with "
            f"ssl_ca_certs=<file> in the URL or {CA_CERTS_SETTING}, or turn the check off "
            f"with ssl_cert_reqs=none in the URL or {CERT_REQS_SETTING}=none")


class TaskqRedis(redis.Redis):
    """A ``redis.Redis`` whose ``from_url`` applies the TASKQ_REDIS_SSL_*
    settings: for RQ's CLI, which builds its own client from the URL
    (``RQ_CONNECTION_CLASS=taskq.tls.TaskqRedis``). Replies stay bytes,
    as RQ needs them."""

    @classmethod
    def from_url(cls, url: str, **kwargs) -> "TaskqRedis":
        return super().from_url(url, **{**tls_kwargs(url), **kwargs})


__all__ = ["CA_CERTS_SETTING", "CERT_REQS_SETTING", "TaskqRedis", "TlsSettingError",
           "certificate_problem", "tls_kwargs"]
