"""SSRF (docs/protocols.md §6): what an admin pastes as ``endpoint`` cannot aim hfgate inward.

* Through the API, on a gateway with an empty ``HFGATE_ALLOW_HOSTS``: every internal address in
  its usual and unusual spellings is refused with 400 before any connection, nothing stored.
* A DNS name is judged after resolution: ``GuardedResolver`` drops internal addresses (a unit
  test with an injected resolver), and ``Transport`` refuses the connection with
  ``endpoint_address_forbidden``.
* Redirects are never followed: an endpoint answering 302 fails the ``reach`` check, and the
  redirect's target is never called.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfgate._server import BackgroundServer
from hfgate.errors import UpstreamUnreachable
from hfgate.upstream import transport as transport_module
from hfgate.upstream.netguard import HostPolicy
from hfgate.upstream.transport import ForbiddenAddress, GuardedResolver, Transport
from tests.security.support import World
from tests.support.peers import Gateway, SimHandle, running_gateway, running_sim


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with running_sim() as handle:
        yield handle


@pytest.fixture(scope="module")
def closed(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway that allows no internal host at all (HFGATE_ALLOW_HOSTS empty)."""
    home = tmp_path_factory.mktemp("closed") / "home"
    with running_gateway(home, hub_url=sim.url, HFGATE_ALLOW_HOSTS="") as gateway:
        yield gateway


def sim_port(sim: SimHandle) -> str:
    return sim.url.rsplit(":", 1)[1]


# (endpoint as pasted, the words the refusal must contain)
REFUSED = [
    ("https://127.0.0.1", "loopback"),
    ("https://127.1", "loopback"),
    ("https://2130706433", "loopback"),
    ("https://0x7f.1", "loopback"),
    ("https://0177.0.0.1", "loopback"),
    ("https://127.0.0.1.", "loopback"),
    ("https://169.254.169.254", "metadata"),
    ("https://[fd00:ec2::254]", "metadata"),
    ("https://100.100.100.200", "metadata"),
    ("https://169.254.1.1", "link-local"),
    ("https://10.0.0.1", "private"),
    ("https://167772161", "private"),
    ("https://172.16.0.1", "private"),
    ("https://192.168.1.1", "private"),
    ("https://100.64.0.1", "carrier-grade NAT"),
    ("https://0.0.0.0", "unspecified"),
    ("https://[::1]", "loopback"),
    ("https://[::ffff:127.0.0.1]", "loopback"),
    ("https://[::ffff:a9fe:a9fe]", "metadata"),
    ("https://[fd00::1]", "private"),
    ("https://[fe80::1]", "link-local"),
    ("https://[64:ff9b::a00:1]", "private"),
    ("https://localhost", "loopback"),
    ("https://LOCALHOST.", "loopback"),
    ("https://api.localhost", "loopback"),
    ("https://ip6-localhost", "loopback"),
    ("http://example.com", "plain http"),
    ("http://abc.us-east-1.aws.endpoints.huggingface.cloud", "plain http"),
    ("ftp://example.com", "https://"),
    ("file:///etc/passwd", "https://"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "https://"),
    ("https://user:secret@example.com", "user name or password"),
    ("https://example.com@127.0.0.1", "user name or password"),
    ("https://example.com?x=http://169.254.169.254", "query"),
    ("https://example.com#@127.0.0.1", "fragment"),
    ("https://exa mple.com", "space"),
    ("https://example.com\r\nHost: 169.254.169.254", "control"),
    ("//169.254.169.254", "absolute URL"),
    ("169.254.169.254", "absolute URL"),
]


def credential(sim: SimHandle, endpoint: str) -> str:
    return json.dumps(sim.credential(endpoint=endpoint))


def stored(gateway: Gateway) -> list[Any]:
    with gateway.client() as api:
        return api.get("/api/integrations").json()["data"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("endpoint", "words"), REFUSED, ids=[e for e, _ in REFUSED])
def test_internal_endpoints_are_refused_before_any_connection(
    closed: Gateway, sim: SimHandle, endpoint: str, words: str
) -> None:
    sim.reset()
    with closed.client() as api:
        for route in ("/api/integrations", "/api/integrations/validate"):
            answer = api.post(route, content=credential(sim, endpoint))
            assert answer.status_code == 400, f"{route}: {answer.status_code} {answer.text[:300]}"
            body = answer.json()
            assert body["error"]["code"] == "invalid_credential"
            problems = body["report"]["problems"]
            assert [p["field"] for p in problems] == ["endpoint"], problems
            assert words.lower() in problems[0]["message"].lower(), problems[0]["message"]
    assert stored(closed) == []
    assert sim.stats()["requests"] == {}


def test_the_simulator_itself_is_out_of_reach_without_the_allowlist(
    closed: Gateway, sim: SimHandle
) -> None:
    sim.reset()
    port = sim_port(sim)
    with closed.client() as api:
        for endpoint in (
            sim.url,
            f"https://127.0.0.1:{port}",
            f"https://localhost:{port}",
            f"https://[::ffff:7f00:1]:{port}",
            f"https://2130706433:{port}",
        ):
            answer = api.post("/api/integrations", content=credential(sim, endpoint))
            assert answer.status_code == 400, f"{endpoint}: {answer.text[:300]}"
    assert stored(closed) == []
    assert sim.stats()["requests"] == {}


def test_the_endpoint_of_a_stored_integration_cannot_be_changed(world: World) -> None:
    with world.api(world.owner) as api:
        path = f"/api/integrations/{world.integration_id}"
        for endpoint in ("https://169.254.169.254", "https://10.0.0.1"):
            answer = api.patch(path, json={"endpoint": endpoint})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == "endpoint"
        assert api.get(path).json()["endpoint"] == world.sim.url


# -- after DNS: the resolver and the transport -------------------------------------------------


class FakeResolver:
    """Answers every name with the given addresses, as aiohttp's resolvers do."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else family,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


def resolve(policy: HostPolicy, host: str, *addresses: str) -> list[str]:
    """What ``GuardedResolver`` keeps of ``addresses``, as the inner resolver's answer."""

    async def go() -> list[str]:
        resolver = GuardedResolver(policy)
        resolver._inner = FakeResolver(*addresses)  # type: ignore[assignment]
        return [r["host"] for r in await resolver.resolve(host, 443)]

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("10.0.0.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00::1", "private"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_the_resolver_refuses_a_name_that_resolves_inward(address: str, words: str) -> None:
    with pytest.raises(ForbiddenAddress) as refused:
        resolve(HostPolicy(), "innocent.example.com", address)
    assert words in str(refused.value)


def test_the_resolver_keeps_only_the_public_addresses_of_a_mixed_answer() -> None:
    kept = resolve(
        HostPolicy(), "mixed.example.com", "10.0.0.1", "93.184.216.34", "169.254.169.254"
    )
    assert kept == ["93.184.216.34"]


def test_the_allowlist_lets_a_listed_network_through_after_dns() -> None:
    assert resolve(HostPolicy(["10.0.0.0/8"]), "gpu.internal", "10.1.2.3") == ["10.1.2.3"]
    with pytest.raises(ForbiddenAddress):
        resolve(HostPolicy(["10.0.0.0/8"]), "gpu.internal", "192.168.0.1")


def test_the_transport_refuses_to_connect_to_a_name_that_resolves_inward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport_module, "DefaultResolver", lambda: FakeResolver("10.0.0.1"))

    async def call() -> None:
        transport = Transport(HostPolicy())
        try:
            await transport.request("GET", "https://internal.example.com/info", token="hf_x")
        finally:
            await transport.close()

    with pytest.raises(UpstreamUnreachable) as refused:
        asyncio.run(call())
    assert refused.value.code == "endpoint_address_forbidden", (
        f"code {refused.value.code!r}, message {refused.value.message!r}: aiohttp wraps the"
        " resolver's ForbiddenAddress in ClientConnectorDNSError, so the refusal reads as a DNS"
        " failure"
    )
    assert "private" in refused.value.message


@pytest.mark.parametrize("url", ["https://10.0.0.1/info", "https://[fd00::1]/info"])
def test_the_transport_refuses_a_literal_internal_address(url: str) -> None:
    async def call() -> None:
        transport = Transport(HostPolicy())
        try:
            await transport.request("GET", url, token="hf_x")
        finally:
            await transport.close()

    with pytest.raises(UpstreamUnreachable) as refused:
        asyncio.run(call())
    assert refused.value.code == "endpoint_address_forbidden"


# -- redirects ---------------------------------------------------------------------------------


class Hits:
    def __init__(self) -> None:
        self.paths: list[str] = []


def redirector(location: str, hits: Hits) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        hits.paths.append(scope["path"])
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    return app


def counter(hits: Hits) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        hits.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


@pytest.fixture(scope="module")
def redirect_pair() -> Iterator[tuple[str, Hits, Hits]]:
    """An endpoint whose every route answers 302 to a second server that counts its hits."""
    target_hits, redirect_hits = Hits(), Hits()
    with BackgroundServer(counter(target_hits)) as target:
        source = BackgroundServer(redirector(target.url + "/info", redirect_hits))
        with source:
            yield source.url, redirect_hits, target_hits


def test_validation_does_not_follow_a_redirect(
    redirect_pair: tuple[str, Hits, Hits], tmp_path: Path, sim: SimHandle
) -> None:
    url, redirect_hits, target_hits = redirect_pair
    with running_gateway(tmp_path / "home", hub_url=sim.url) as gateway, gateway.client() as api:
        for route in ("/api/integrations/validate", "/api/integrations"):
            answer = api.post(route, content=credential(sim, url))
            assert answer.status_code == 422, answer.text
            reach = next(c for c in answer.json()["report"]["checks"] if c["id"] == "reach")
            assert reach["status"] == "fail", reach
            assert "redirect" in reach["message"], reach
        assert api.get("/api/integrations").json()["data"] == []
    assert redirect_hits.paths, "the endpoint was never called: the test proves nothing"
    assert target_hits.paths == [], "the redirect was followed"


def test_the_transport_returns_a_redirect_instead_of_following_it(
    redirect_pair: tuple[str, Hits, Hits],
) -> None:
    url, _, target_hits = redirect_pair

    async def call() -> int:
        transport = Transport(HostPolicy(["127.0.0.1"]))
        try:
            reply = await transport.request("GET", url + "/info", token="hf_x")
            return reply.status
        finally:
            await transport.close()

    assert asyncio.run(call()) == 302
    assert target_hits.paths == []
