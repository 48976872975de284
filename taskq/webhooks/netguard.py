"""Where outbound calls (webhooks) may go: never to loopback, private,
link-local (cloud metadata), unique-local, CGNAT, multicast, reserved or
unspecified addresses, in any spelling, unless the operator allows a range.

Two checks, both here: :func:`check_url` when an endpoint is registered (the
URL's syntax and, for a literal address in any spelling the C resolver
accepts, e.g. ``2130706433``, ``0x7f.1``, ``127.1``, ``[::ffff:127.0.0.1]``,
the address), and :func:`resolve_checked` at every delivery: the host name
is resolved once, every address it resolves to must pass, and the caller
connects to one of those very addresses (so a DNS answer that changes
between check and connect cannot win).

``TASKQ_WEBHOOK_ALLOW_NETS`` (comma-separated CIDRs, e.g.
``10.0.0.0/8,127.0.0.1/32``) admits ranges an operator really needs.
Unspecified, multicast and broadcast addresses are never admitted.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import TaskqValueError

ALLOW_ENV = "TASKQ_WEBHOOK_ALLOW_NETS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::/96", "::ffff:0:0/96", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
"""Refused whatever this Python's ``ipaddress`` thinks is global (it has
changed between versions); anything not ``is_global`` is refused as well."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class InvalidUrl(TaskqValueError):
    """Not an http(s) URL taskq can call (syntax, scheme, credentials...)."""

    code = "invalid_url"


class UrlNotAllowed(TaskqValueError):
    """The URL names an address outbound calls may not reach."""

    code = "url_not_allowed"


class AddressRefused(Exception):
    """At delivery: the host resolved to an address that may not be reached."""


@dataclass(frozen=True)
class Target:
    """A checked URL, in the parts a connection needs."""

    scheme: str
    host: str        # ASCII (IDNA) host name or address, no brackets
    port: int
    path: str        # path and query, never empty
    address: IPAddress | None   # the host when it is a literal address


def parse_allow_nets(text: str | None) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; ValueError names a bad entry."""
    nets = []
    for item in re.split(r"[,\s]+", (text or "").strip()):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{ALLOW_ENV}: {item!r} is not an address or CIDR network") from None
    return tuple(nets)


def allow_nets_from_env() -> tuple[Network, ...]:
    return parse_allow_nets(os.environ.get(ALLOW_ENV))


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (NAT64, 6to4, Teredo)."""
    if ip.version != 6:
        return []
    out = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo:
        out += list(ip.teredo)
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def _blocked(ip: IPAddress) -> bool:
    return not ip.is_global or any(ip in net for net in _BLOCKED if net.version == ip.version)


def refusal(ip: IPAddress, allow: tuple[Network, ...] = ()) -> str | None:
    """Why ``ip`` may not be called (a short phrase), or None when it may."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped            # ::ffff:a.b.c.d is a.b.c.d, allowed or not
    for a in [ip, *_embedded_ipv4(ip)]:
        if a.is_unspecified or a.is_multicast or a == _BROADCAST:
            return f"{a} is an unspecified, multicast or broadcast address"
        if _blocked(a) and not any(a in net for net in allow if net.version == a.version):
            return f"{a} is a loopback, private, link-local or reserved address"
    return None


def _loose_ipv4(host: str) -> ipaddress.IPv4Address:
    """The address the C resolver (inet_aton) reads in ``host``: one to four
    parts, each decimal, octal (leading 0) or hex (0x); the last part fills
    the remaining bytes. ValueError when it is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or "" in parts:
        raise ValueError(host)
    nums = []
    for p in parts:
        if p.startswith("0x"):
            nums.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            nums.append(int(p, 8))
        else:
            nums.append(int(p, 10))
    *head, last = nums
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise ValueError(host)
    value = 0
    for n in head:
        value = value * 256 + n
    return ipaddress.IPv4Address(value * 256 ** (4 - len(head)) + last)


def parse_url(url: str) -> Target:
    """Syntax only: an absolute http(s) URL without credentials. Raises InvalidUrl."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise InvalidUrl("url must be an http(s) URL of at most 2048 characters")
    if any(c <= " " or c == "\x7f" or c == "\\" for c in url):
        raise InvalidUrl("url must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"url is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidUrl("url must use http or https")
    if "@" in parts.netloc:
        raise InvalidUrl("url must not carry credentials (user@host)")
    host = parts.hostname or ""
    if not host:
        raise InvalidUrl("url has no host")
    if port == 0:
        raise InvalidUrl("url has port 0")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():
        raise InvalidUrl("url path and query must be ASCII (percent-encode the rest)")
    if "%" in host:
        raise InvalidUrl("url host must not carry a zone or percent-encoding")
    if "[" in parts.netloc:
        try:
            address = ipaddress.IPv6Address(host)   # a zone (%eth0) does not parse: refused
        except ValueError:
            raise InvalidUrl("url has a malformed IPv6 address") from None
        return Target(scheme, host, port or _default_port(scheme), path, address)
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidUrl("url has an invalid host name") from None
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    address = None
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            address = _loose_ipv4(name)
        except ValueError:
            raise InvalidUrl("url host is neither a name nor an IPv4 address") from None
    elif not all(_NAME.match(label) for label in labels):
        raise InvalidUrl("url has an invalid host name")
    return Target(scheme, host, port or _default_port(scheme), path, address)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def check_url(url: str, allow: tuple[Network, ...] = ()) -> Target:
    """Registration: syntax (InvalidUrl) and, for a literal address or a
    loopback name, the address policy (UrlNotAllowed). Names are resolved
    at delivery, where :func:`resolve_checked` decides."""
    target = parse_url(url)
    name = target.host.rstrip(".")
    if target.address is None and (name == "localhost" or name.endswith(".localhost")):
        raise UrlNotAllowed("url host is a loopback name")
    if target.address is not None:
        why = refusal(target.address, allow)
        if why:
            raise UrlNotAllowed(f"url refused: {why} (an operator may allow a range "
                                f"with {ALLOW_ENV})")
    return target


def resolve_checked(target: Target, allow: tuple[Network, ...] = ()) -> list[str]:
    """Every address ``target.host`` resolves to, each checked; connect to one
    of these. Raises AddressRefused if any address is refused, OSError
    (socket.gaierror) when the name does not resolve."""
    if target.address is not None:
        found = [target.address]
    else:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise socket.gaierror("no address")
    for ip in found:
        why = refusal(ip, allow)
        if why:
            raise AddressRefused(why)
    return list(dict.fromkeys(str(ip) for ip in found))
