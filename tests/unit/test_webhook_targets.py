"""Webhooks never reach what only the platform can reach (issue 12, item 7): SSRF rules,
checked on the address actually connected to, with an operator allowlist."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actors_core.config import Config
from actors_core.webhook_targets import Allowlist, literal_refusal
from spawner import events

from .conftest import SECRET

REFUSED = {
    "loopback": ["http://127.0.0.1/", "http://127.9.9.9:8000/x", "http://[::1]/",
                 "http://127.1/", "http://2130706433/", "http://0x7f.1/", "http://localhost:80/",
                 "http://api.localhost/"],
    "private": ["http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/",
                "http://100.64.0.1/"],
    "link-local": ["http://169.254.1.1/", "http://[fe80::1]/"],
    "unique-local": ["http://[fd12:3456::1]/", "http://[fc00::1]/"],
    "multicast": ["http://224.0.0.1/", "http://[ff02::1]/"],
    "unspecified": ["http://0.0.0.0/", "http://[::]/"],
    "metadata": ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"],
    "inside the IPv6 address": ["http://[::ffff:127.0.0.1]/", "http://[::ffff:10.1.1.1]/",
                                "http://[2002:7f00:1::]/", "http://[64:ff9b::a9fe:a9fe]/"],
}


@pytest.mark.parametrize("url,kind", [(u, k) for k, urls in REFUSED.items() for u in urls])
def test_literal_targets_off_limits_are_refused_with_the_reason(url, kind):
    problem = literal_refusal(url, Allowlist())
    assert problem and (kind in problem or kind == "loopback" and "loopback" in problem), problem


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "https://[2001:4860:4860::8888]/",
                                 "https://hooks.example.org/x?y=1", "http://example.com:8080/"])
def test_public_addresses_and_names_pass_at_registration(url):
    assert literal_refusal(url, Allowlist()) is None


def test_the_allowlist_takes_addresses_networks_and_names():
    allow = Allowlist.parse(["10.1.0.0/16", "127.0.0.1", "Hooks.Internal.", "fd00::/8"])
    assert literal_refusal("http://10.1.2.3/", allow) is None
    assert literal_refusal("http://10.2.0.1/", allow)
    assert literal_refusal("http://127.0.0.1:9/", allow) is None
    assert literal_refusal("http://127.0.0.2/", allow)
    assert literal_refusal("http://hooks.internal/", allow) is None
    assert literal_refusal("http://[fd00:ec2::254]/", allow) is None  # the operator said so
    for bad in (["not a host!"], ["10.0.0.0/33"]):
        with pytest.raises(ValueError, match="ACTORS_WEBHOOK_ALLOW"):
            Allowlist.parse(bad)
    with pytest.raises(ValueError, match="ACTORS_WEBHOOK_ALLOW"):
        Config(jwt_secret=SECRET, webhook_allow=("300.1.1.1/8x",)).validate()


def test_the_api_refuses_literal_targets_and_non_http_schemes(http, alice, config, store):
    for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/", "ftp://example.org/",
                "http://[::1]:9/", "http://localhost/"):
        response = http.post("/actors", headers=alice, json={"image": "x/y", "webhook": url})
        assert response.status_code == 400 and "webhook" in response.json["message"], url
    actor = http.post("/actors", headers=alice,
                      json={"image": "x/y", "webhook": "https://hooks.example.org/h"}).json["result"]
    response = http.put(f"/actors/{actor['id']}", headers=alice,
                        json={"image": "x/y", "webhook": "http://10.0.0.8/"})
    assert response.status_code == 400 and "private" in response.json["message"]
    from actors_api import create_app

    allowed = create_app(config.with_overrides(webhook_allow=("127.0.0.0/8",)), store).test_client()
    response = allowed.post("/actors", headers=alice,
                            json={"image": "x/y", "webhook": "http://127.0.0.1:8080/hook"})
    assert response.status_code == 200, response.json


class Hook:
    """A loopback-only endpoint counting what reaches it; ``redirect`` answers 302 there."""

    def __init__(self, redirect: str = None):
        self.received, hook = [], self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(302 if redirect else 200)
                if redirect:
                    self.send_header("Location", redirect)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Hook()
    yield server
    server.stop()


def _event(store, target: str) -> str:
    return store.events.create_webhook("A1", target, {"event_type": "ACTOR_READY"},
                                       first_due=0)["id"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1"])
def test_delivery_refuses_loopback_without_sending_and_fails_at_once(store, hook, host):
    config = Config(jwt_secret=SECRET, webhook_max_attempts=5)
    event_id = _event(store, f"http://{host}:{hook.port}/hook")
    assert events.deliver(store, config, event_id) == "FAILED"
    record = store.events.get(event_id)
    [attempt] = record["attempts"]
    assert attempt["status_code"] is None and attempt["error"].startswith("Refused: ")
    assert "loopback" in attempt["error"] and "ACTORS_WEBHOOK_ALLOW" in attempt["error"]
    assert hook.received == []


@pytest.mark.parametrize("allow", [("127.0.0.1",), ("127.0.0.0/8",), ("localhost",)])
def test_delivery_with_the_allowlist_arrives(store, hook, allow):
    config = Config(jwt_secret=SECRET, webhook_allow=allow)
    event_id = _event(store, f"http://localhost:{hook.port}/hook")
    assert events.deliver(store, config, event_id) == "DELIVERED"
    assert hook.received == [{"event_type": "ACTOR_READY"}]


def test_redirects_are_not_followed(store, hook):
    config = Config(jwt_secret=SECRET, webhook_allow=("localhost",), webhook_max_attempts=1)
    bouncer = Hook(redirect=f"http://127.0.0.1:{hook.port}/inside")
    try:
        event_id = _event(store, f"http://localhost:{bouncer.port}/hook")
        assert events.deliver(store, config, event_id) == "FAILED"
    finally:
        bouncer.stop()
    assert len(bouncer.received) == 1 and hook.received == []
    assert store.events.get(event_id)["attempts"][0]["error"] == "HTTP 302"


def test_the_address_checked_is_the_address_connected_to(store, hook, monkeypatch):
    """DNS rebinding: whatever a name resolves to at delivery is checked there, and only
    an address that passed is connected to; a name that answers loopback gets nothing."""
    assert literal_refusal(f"http://rebind.example.org:{hook.port}/", Allowlist()) is None
    real = socket.getaddrinfo
    answers = {"rebind.example.org": ["127.0.0.1"],
               "mixed.example.org": ["127.0.0.1", "192.0.2.1"]}
    connected = []

    def resolver(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]
        return real(host, port, *args, **kwargs)

    real_connect = socket.socket.connect

    def connect(self, address):
        connected.append(address[0])
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(socket.socket, "connect", connect)
    config = Config(jwt_secret=SECRET, webhook_timeout=0.5, webhook_max_attempts=1,
                    webhook_allow=("192.0.2.0/24",))
    event_id = _event(store, f"http://rebind.example.org:{hook.port}/hook")
    assert events.deliver(store, config, event_id) == "FAILED"
    assert "127.0.0.1 (rebind.example.org) is a loopback" in \
        store.events.get(event_id)["attempts"][0]["error"]
    event_id = _event(store, f"http://mixed.example.org:{hook.port}/hook")
    events.deliver(store, config, event_id)
    assert "127.0.0.1" not in connected and connected == ["192.0.2.1"]
    assert hook.received == []


def test_no_proxy_from_the_environment_is_used(store, hook, monkeypatch):
    proxy = Hook()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        config = Config(jwt_secret=SECRET, webhook_allow=("localhost",))
        event_id = _event(store, f"http://localhost:{hook.port}/hook")
        assert events.deliver(store, config, event_id) == "DELIVERED"
    finally:
        proxy.stop()
    assert proxy.received == [] and len(hook.received) == 1
