"""One webhook POST, to a checked address only.

The host is resolved once (taskq.webhooks.netguard.resolve_checked: every address
must pass) and the connection goes to one of those addresses, with the
URL's host name in the Host header and, for https, as the TLS server name
the certificate is checked against. Redirects are never followed (a 3xx is
a failed delivery). Failures are reported as a short class, never as the
exception's text, which would tell a caller what listens where:
``refused_address``, ``bad_url``, ``dns_error``, ``connect_error``,
``timeout``, ``tls_error``, ``protocol_error``, ``http_<status>``.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from . import netguard

ERROR_CLASSES = ("refused_address", "bad_url", "dns_error", "connect_error", "timeout",
                 "tls_error", "protocol_error")
"""Every failure class but ``http_<status>``."""


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to ``address``, speaking of ``host`` (the Host header)."""

    def __init__(self, host: str, port: int, address: str, timeout: float, **kwargs):
        super().__init__(host, port, timeout=timeout, **kwargs)
        self.address = address

    def _open(self) -> socket.socket:
        return socket.create_connection((self.address, self.port), self.timeout)

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPS(_PinnedHTTP):
    """HTTPS to ``address``; SNI and the certificate check use ``host``."""

    default_port = 443

    def __init__(self, host: str, port: int, address: str, timeout: float,
                 context: ssl.SSLContext | None = None):
        super().__init__(host, port, address, timeout)
        self.context = context or ssl.create_default_context()

    def connect(self) -> None:
        sock = self._open()
        try:
            self.sock = self.context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _classify(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return "tls_error"
    if isinstance(exc, http.client.HTTPException):
        return "protocol_error"
    return "connect_error"


def http_post(url: str, body: bytes, headers: dict, timeout: float,
              allow: tuple = (), context: ssl.SSLContext | None = None) -> tuple[int, str]:
    """POST ``body``; returns (status, error class). Status 0: no HTTP answer."""
    try:
        target = netguard.parse_url(url)
    except netguard.InvalidUrl:
        return 0, "bad_url"
    try:
        addresses = netguard.resolve_checked(target, allow)
    except netguard.AddressRefused:
        return 0, "refused_address"
    except (OSError, UnicodeError, ValueError):
        return 0, "dns_error"
    error = "connect_error"
    for address in addresses:
        if target.scheme == "https":
            conn = _PinnedHTTPS(target.host, target.port, address, timeout, context)
        else:
            conn = _PinnedHTTP(target.host, target.port, address, timeout)
        try:
            conn.connect()
        except Exception as exc:
            conn.close()
            error = _classify(exc)
            if error == "tls_error":
                return 0, error
            continue
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            status = conn.getresponse().status
        except Exception as exc:
            return 0, _classify(exc)
        finally:
            conn.close()
        return status, "" if 200 <= status < 300 else f"http_{status}"
    return 0, error
