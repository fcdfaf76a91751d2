"""Where webhooks may go: public addresses only, unless an operator allows more.

A webhook is a POST the platform makes on a user's behalf, from inside the platform's
network, so it must not reach what only the platform can reach (server-side request
forgery): loopback, private (RFC 1918, CGNAT), link-local, unique-local, multicast,
unspecified, reserved and other non-global addresses, and cloud metadata services
(169.254.169.254, fd00:ec2::254). IPv6 forms that carry an IPv4 address (mapped, 6to4,
Teredo, NAT64) are judged by that address too.

The check that counts happens when a webhook is delivered (spawner/safe_http.py): the
name is resolved there, every address is checked, and the connection goes to an
address that passed, so nothing can change between the check and the connection (DNS
rebinding); redirects are not followed. :func:`literal_refusal` is only a convenience for
the API, refusing at registration what is already known to be refused.

``ACTORS_WEBHOOK_ALLOW`` (comma-separated) lets an operator allow more: an IP address or
CIDR network allows the addresses in it; a host name allows that exact name in a URL
(whatever it resolves to).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Iterable, Optional, Union
from urllib.parse import urlsplit

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


class TargetRefused(Exception):
    """A webhook target this platform will not connect to; the message says why."""


def _embedded_ipv4(address: Address) -> list:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    if address.version != 6:
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found.extend(address.teredo)
    if any(address in network for network in NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def category(address: Address) -> Optional[str]:
    """Why ``address`` is off limits ("a loopback address"...), or None for a public one."""
    if address in METADATA:
        return "a cloud metadata address"
    for inner in _embedded_ipv4(address):
        reason = category(inner)
        if reason:
            return f"{reason} (inside the IPv6 address)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.version == 6 and address in UNIQUE_LOCAL:
        return "a unique-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or (address.version == 4 and address in SHARED):
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved or non-public address"
    return None


@dataclass(frozen=True)
class Allowlist:
    networks: tuple = ()
    hosts: frozenset = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "Allowlist":
        """``ACTORS_WEBHOOK_ALLOW``'s entries; a malformed one is a ValueError naming it."""
        networks, hosts = [], set()
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if not HOST_NAME.match(name):
                raise ValueError(f"ACTORS_WEBHOOK_ALLOW: {entry!r} is neither an IP address, "
                                 "a CIDR network nor a host name")
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def allows_address(self, address: Address) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def _normal_host(host: str) -> str:
    return (host or "").lower().rstrip(".")


def parse_address(text: str) -> Optional[Address]:
    """An address written as one, including the forms C libraries take (``127.1``,
    ``2130706433``, ``0x7f.1``); None for a name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0].split("%")[0])


def address_refusal(address: Address, host: str, allow: Allowlist) -> Optional[str]:
    """Why the webhook may not connect to ``address`` (resolved from ``host``), or None."""
    if allow.allows_host(host) or allow.allows_address(address):
        return None
    reason = category(address)
    if reason is None:
        return None
    shown = str(address) if _normal_host(host) == str(address) else f"{address} ({host})"
    return (f"The webhook target {shown} is {reason}: webhooks may not reach loopback, "
            "private, link-local, unique-local, multicast, unspecified or metadata addresses "
            "(an operator can allow some with ACTORS_WEBHOOK_ALLOW).")


def literal_refusal(url: str, allow: Allowlist) -> Optional[str]:
    """At registration: why ``url`` can already be refused without resolving any name."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as error:
        return f"The webhook URL is malformed: {error}."
    if parts.scheme.lower() not in ("http", "https"):
        return "A webhook must be an http:// or https:// URL."
    host = parts.hostname or ""
    if not host:
        return "A webhook URL must name a host."
    if allow.allows_host(host):
        return None
    name = _normal_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        return (f"The webhook target {host} is a loopback name: webhooks may not reach loopback "
                "addresses (an operator can allow some with ACTORS_WEBHOOK_ALLOW).")
    address = parse_address(host)
    return address_refusal(address, host, allow) if address is not None else None
