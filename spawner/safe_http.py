"""HTTP for webhooks that only ever connects to an address it has checked.

Every connection (the first, and any other: redirects are not followed, and no proxy
from the environment is used) resolves the target's name itself, checks each address
with actors_core/webhook_targets.py, and connects to one that passed. Checking the
address that is then connected to leaves no gap for DNS rebinding between a check and
a second resolution. TLS still verifies the certificate against the URL's host name.

A target whose every address is refused raises :class:`TargetRefused` out of
:func:`post`; it never becomes a ``requests`` connection error, so the caller can tell
a refusal (final) from a failure (worth another try).
"""
from __future__ import annotations

import ipaddress
import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from actors_core.webhook_targets import Allowlist, TargetRefused, address_refusal

__all__ = ["TargetRefused", "post"]


class _CheckedConnection:
    """Mixed into urllib3's connections: ``_new_conn`` that connects only to checked addresses."""

    allow: Allowlist = Allowlist()

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        allowed, refusals = [], []
        for family, kind, proto, _, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0].split("%")[0])
            problem = address_refusal(address, self.host, self.allow)
            if problem:
                refusals.append(problem)
            else:
                allowed.append((family, kind, proto, sockaddr))
        if not allowed:
            raise TargetRefused(refusals[0] if refusals else f"{self.host} has no address.")
        error = None
        for family, kind, proto, sockaddr in allowed:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                sock.connect(sockaddr)  # the address just checked, never a new lookup
                return sock
            except socket.timeout as timeout:
                sock.close()
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                  f"(connect timeout={self.timeout})")
                error.__cause__ = timeout
            except OSError as failure:
                sock.close()
                error = NewConnectionError(self, f"Failed to establish a new connection: {failure}")
        raise error


class _Adapter(HTTPAdapter):
    def __init__(self, allow: Allowlist):
        self._allow = allow
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        attrs = {"allow": self._allow}
        http = type("CheckedHTTPConnection", (_CheckedConnection, HTTPConnection), attrs)
        https = type("CheckedHTTPSConnection", (_CheckedConnection, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }

    def proxy_manager_for(self, *args, **kwargs):
        raise TargetRefused("Webhooks are not sent through proxies.")


def post(url: str, allow: Allowlist, **kwargs) -> requests.Response:
    """``requests.post`` to a checked address, without redirects or proxies."""
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc from the environment
        adapter = _Adapter(allow)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session.post(url, allow_redirects=False, **kwargs)
