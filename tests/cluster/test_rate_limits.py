"""Rate limits and the rest of the service's own keys on a Redis Cluster: one count per tenant
shared by every instance, kept on the tenant's master; the app on a cluster end to end."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import redis.asyncio as aioredis

from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.web.app import create_app
from tests.cluster.conftest import ClusterProcesses

QUERY = {"query": "{ conversations(first: 1) { totalCount } }"}


async def test_two_instances_share_one_count_on_the_tenants_master(
    redis_cluster: ClusterProcesses,
) -> None:
    tenant = f"rl-{uuid.uuid4().hex[:12]}"
    a = RateLimiter("5/minute", redis_url=redis_cluster.url)
    b = RateLimiter("5/minute", redis_url=redis_cluster.url)
    assert a.storage_name == "redis"
    for limiter in (a, a, a, b, b):
        assert await limiter.check(tenant, "http") is None
    for limiter in (b, a):
        refused = await limiter.check(tenant, "http")
        assert refused is not None
        assert 55 <= refused.seconds <= 60
    key = a.storage_key(tenant)
    assert f"{{{tenant}}}" in key
    master = aioredis.Redis(port=await redis_cluster.master_of(tenant))
    try:  # the tenant's hash tag put the counter on the tenant's master
        assert int(await master.get(key) or 0) == 7
    finally:
        await master.aclose()
    await a.clear(tenant)  # the shared window is gone: the next hit counts from one
    assert await a.check(tenant, "http") is None


async def test_the_app_on_a_cluster_limits_persists_queries_and_is_ready(
    pg_url: str, redis_cluster: ClusterProcesses
) -> None:
    settings = Settings(
        auth_mode="none",
        database_url=pg_url,
        redis_url=redis_cluster.url,
        broadcast_url=redis_cluster.url,
        rate_limit="4/minute",
    )
    container = await build_container(settings)
    await upgrade(container.db.engine)
    tenant = f"rl-{uuid.uuid4().hex[:12]}"
    headers = {"X-Tenant-ID": tenant}
    try:
        app = create_app(container=container)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ready = await c.get("/readyz")
            assert ready.status_code == 200, ready.text
            digest = hashlib.sha256(QUERY["query"].encode()).hexdigest()
            apq = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
            first = await c.post("/graphql", json={**QUERY, **apq}, headers=headers)
            assert "errors" not in first.json(), first.text
            by_hash = await c.post("/graphql", json=apq, headers=headers)  # stored on the cluster
            assert by_hash.json()["data"] == first.json()["data"]
            for _ in range(2):
                assert (
                    "errors" not in (await c.post("/graphql", json=QUERY, headers=headers)).json()
                )
            refused = (await c.post("/graphql", json=QUERY, headers=headers)).json()
            assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        await container.close()
