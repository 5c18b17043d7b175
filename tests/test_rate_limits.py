"""Per-tenant rate limits at every door, at the edge: exactly the limit passes, one past it is
refused with `RATE_LIMITED` and a `retryAfter` / `Retry-After` that says when the window ends.

Limits are per minute so that a test's requests never straddle the end of a window."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.web.app import create_app
from tests.realtime.conftest import LEGACY_WS, TRANSPORT_WS, WSClient, start_server

QUERY = {"query": "{ conversations(first: 1) { totalCount } }"}
GRAPHQL_RESPONSE = "application/graphql-response+json"


def new_tenant() -> str:
    return f"rl-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def limited(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app with 5 requests a minute per tenant, and 8 for the tenant `big-<run>`."""
    limiter = RateLimiter("5/minute", {BIG: "8/minute"})
    app = create_app(container=dataclasses.replace(container, rate_limiter=limiter))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


BIG = new_tenant()


async def gql(
    client: httpx.AsyncClient, tenant: str | None, accept: str = "application/json"
) -> httpx.Response:
    headers = {"Accept": accept, **({"X-Tenant-ID": tenant} if tenant else {})}
    return await client.post("/graphql", json=QUERY, headers=headers)


def assert_refused_graphql(r: httpx.Response, status: int, window_s: int = 60) -> None:
    assert r.status_code == status, r.text
    (error,) = r.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry = error["extensions"]["retryAfter"]
    assert isinstance(retry, int)
    assert window_s - 5 <= retry <= window_s, retry
    assert r.headers["retry-after"] == str(retry)
    assert "data" not in r.json()


async def test_graphql_at_the_limit_passes_one_past_is_refused(
    limited: httpx.AsyncClient,
) -> None:
    tenant = new_tenant()
    for _ in range(5):
        r = await gql(limited, tenant)
        assert r.status_code == 200
        assert "errors" not in r.json(), r.text
    assert_refused_graphql(await gql(limited, tenant), 200)  # application/json: 200
    assert_refused_graphql(await gql(limited, tenant, GRAPHQL_RESPONSE), 429)


async def test_rest_refusal_is_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    tenant = new_tenant()
    headers = {"X-Tenant-ID": tenant}
    for _ in range(5):
        r = await limited.get("/api/v1/conversations", headers=headers)
        assert r.status_code == 200, r.text
    r = await limited.get("/api/v1/conversations", headers=headers)
    assert r.status_code == 429, r.text
    assert isinstance(r.json()["detail"], str)
    assert "retry after" in r.json()["detail"]
    assert 55 <= int(r.headers["retry-after"]) <= 60


async def test_doors_share_the_tenant_count_and_tenants_do_not_affect_each_other(
    limited: httpx.AsyncClient,
) -> None:
    a, b = new_tenant(), new_tenant()
    for _ in range(3):
        assert "errors" not in (await gql(limited, a)).json()
    for _ in range(2):
        assert (await limited.get("/api/v1/conversations", headers={"X-Tenant-ID": a})).is_success
    assert_refused_graphql(await gql(limited, a), 200)
    r = await limited.get("/api/v1/conversations", headers={"X-Tenant-ID": a})
    assert r.status_code == 429
    for _ in range(5):  # b has its own window
        assert "errors" not in (await gql(limited, b)).json()


async def test_tenant_override(limited: httpx.AsyncClient) -> None:
    for _ in range(8):
        r = await gql(limited, BIG)
        assert "errors" not in r.json(), r.text
    assert_refused_graphql(await gql(limited, BIG), 200)


async def test_requests_without_a_valid_tenant_are_answered_by_the_door(
    limited: httpx.AsyncClient,
) -> None:
    for _ in range(7):
        r = await gql(limited, None)
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await limited.get("/healthz")).status_code == 200


async def test_memory_storage_without_redis() -> None:
    limiter = RateLimiter("2/minute")
    assert limiter.storage_name == "memory"
    assert await limiter.check("t", "http") is None
    assert await limiter.check("t", "ws_connect") is None
    refused = await limiter.check("t", "ws_subscribe")
    assert refused is not None
    assert 55 <= refused.seconds <= 60
    assert limiter.refusals["ws_subscribe"] == 1
    await limiter.clear("t")
    assert await limiter.check("t", "http") is None


async def test_retry_after_of_a_one_second_window_is_one() -> None:
    limiter = RateLimiter("1/second")
    start = time.monotonic()
    assert await limiter.check("t", "http") is None
    refused = await limiter.check("t", "http")
    if time.monotonic() - start < 0.9:  # still in the first window
        assert refused is not None
        assert refused.seconds == 1


async def test_redis_count_is_shared_by_two_instances(container: Container, redis_url: str) -> None:
    """Two app instances on one Redis: together they admit exactly the limit."""
    settings = Settings(
        database_url=container.settings.database_url, redis_url=redis_url, rate_limit="6/minute"
    )
    one, two = await build_container(settings), await build_container(settings)
    try:
        assert one.rate_limiter is not None
        assert one.rate_limiter.storage_name == "redis"
        tenant = new_tenant()
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(container=c)),
                base_url="http://testserver",
            )
            for c in (one, two)
        ]
        async with clients[0], clients[1]:
            for i in range(6):
                r = await gql(clients[i % 2], tenant)
                assert "errors" not in r.json(), (i, r.text)
            assert_refused_graphql(await gql(clients[0], tenant), 200)
            assert_refused_graphql(await gql(clients[1], tenant, GRAPHQL_RESPONSE), 429)
            other = new_tenant()
            assert "errors" not in (await gql(clients[1], other)).json()
    finally:
        await one.close()
        await two.close()


async def test_redis_down_lets_requests_through() -> None:
    """A limiter outage must not stop the service."""
    limiter = RateLimiter("1/minute", redis_url="redis://127.0.0.1:1/0")
    assert await limiter.check("t", "http") is None
    assert await limiter.check("t", "http") is None


def test_settings_parse_and_check_limits() -> None:
    s = Settings.from_env({"RATE_LIMIT": "7 per minute", "TENANT_LIMITS": '{"big": "1000/second"}'})
    assert s.rate_limit == "7 per minute"
    assert s.tenant_limits == {"big": "1000/second"}
    assert Settings().rate_limit == "100/second"
    assert Settings().tenant_limits == {}
    with pytest.raises(ValueError, match="RATE_LIMIT"):
        Settings.from_env({"RATE_LIMIT": "lots"})
    with pytest.raises(ValueError, match="TENANT_LIMITS"):
        Settings.from_env({"TENANT_LIMITS": '{"big": "fast"}'})


# WebSocket ---------------------------------------------------------------------------------


@pytest.fixture
async def ws_live(database_urls: dict[str, Any], redis_url: str) -> AsyncIterator[Any]:
    url = database_urls["postgresql"]
    if isinstance(url, BaseException):
        pytest.skip("PostgreSQL unavailable")
    srv = await start_server(
        Settings(database_url=url, broadcast_url=redis_url, rate_limit="3/minute")
    )
    try:
        yield srv
    finally:
        await srv.stop()
        await srv.container.close()


SUBSCRIPTION = "subscription { messageAdded { id } }"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_connect_and_operations_are_counted(ws_live: Any, protocol: str) -> None:
    tenant = new_tenant()
    client = await WSClient.connect(ws_live.ws_url, protocol, tenant)  # 1
    try:
        first, second = await client.subscribe(SUBSCRIPTION), await client.subscribe(SUBSCRIPTION)
        third = await client.subscribe(SUBSCRIPTION)  # 4: one past the limit
        frame = await client.next_frame(third)
        assert frame["type"] == "error", frame
        payload = frame["payload"][0] if protocol == TRANSPORT_WS else frame["payload"]
        assert payload["extensions"]["code"] == "RATE_LIMITED"
        assert 55 <= payload["extensions"]["retryAfter"] <= 60
        assert ws_live.app.state.subscriptions.stats()["ws_operations"] == 2  # first, second
        assert client.frames[first].empty()
        assert client.frames[second].empty()
    finally:
        await client.close()
    refused = await WSClient.connect(ws_live.ws_url, protocol, tenant, ack=False)
    try:
        if protocol == LEGACY_WS:
            frame = await refused.next_frame(None)
            assert frame["type"] == "connection_error"
            assert frame["payload"]["extensions"]["code"] == "RATE_LIMITED"
        await asyncio.wait_for(refused.closed.wait(), 10)
        assert refused.ws.close_code == 4429
    finally:
        await refused.close()
    other = await WSClient.connect(ws_live.ws_url, protocol, new_tenant())  # others unaffected
    await other.close()


async def test_refusals_after_the_first_cost_no_redis_call(redis_url: str) -> None:
    """The first refusal of a window reads its end; later ones in that window are answered
    locally, so the shared counter stays where the first refusal left it."""
    import redis.asyncio as aioredis

    tenant = new_tenant()
    limiter = RateLimiter("2/minute", redis_url=redis_url)
    client = aioredis.from_url(redis_url)
    try:
        assert await limiter.check(tenant, "http") is None
        assert await limiter.check(tenant, "http") is None
        for _ in range(10):
            refused = await limiter.check(tenant, "http")
            assert refused is not None
            assert 55 <= refused.seconds <= 60
        key = limiter.storage_key(tenant)
        assert key.startswith("conversation-service:rate:")
        assert f"{{{tenant}}}" in key
        stored = await client.get(key)
        assert stored is not None
        assert int(stored) == 3
    finally:
        await client.aclose()
