"""`Conversation.customer` over the real app, on PostgreSQL and SQLite: batching, cache,
time-outs (null + warning, never an error), breaker, tenant isolation; Redis cache."""

import uuid
from typing import Any

import pytest

from conversation_service.adapters.crm import BreakerState, CrmDirectory, CrmService
from conversation_service.bootstrap import Container
from conversation_service.domain.conversations import get_conversation
from conversation_service.domain.crm_customers import lookup_customer
from conversation_service.schema.fast_path import unverified
from tests.conftest import GQL
from tests.crm.conftest import CrmTenant, breaker_state, crm_config, new_token
from tests.crm.fake_crm import FakeCrm

CREATE = (
    """mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }"""
)
LIST = """{ conversations(first: 20) { nodes { id customer crmSync { status error } } } }"""
ONE = """query($id: ID!) { conversation(id: $id) { customer } }"""


async def create(gql: GQL, **input: Any) -> str:
    cid: str = (await gql.ok(CREATE, {"input": input}))["createConversation"]["id"]
    return cid


async def test_list_costs_one_crm_call_per_distinct_customer_then_hits_cache(
    gql: GQL, crm_tenant: CrmTenant
) -> None:
    acc = crm_tenant.account
    acc.customers["c1"] = {"id": "c1", "name": "Ana", "email": "ana@x.io"}
    acc.customers["c2"] = {"id": "c2", "name": "Bo", "email": "bo@x.io"}
    for _ in range(3):
        await create(gql, crmReferences={"customer_id": "c1"})
    await create(gql, customerInfo={"email": "Bo@x.io"})
    await create(gql, customerInfo={"email": "bo@x.io"})
    await create(gql)  # no link: no call
    # The counts below are of one execution each: no fast-path verification run beside it.
    with unverified():
        body = await gql(LIST)
        assert "errors" not in body
        assert "extensions" not in body
        names = sorted(
            (n["customer"] or {}).get("name", "-") for n in body["data"]["conversations"]["nodes"]
        )
        assert names == ["-", "Ana", "Ana", "Ana", "Bo", "Bo"]
        assert acc.lookups() == 2  # batched: one per distinct customer
        hits = crm_tenant.crm.stats["cache_hits"]
        await gql.ok(LIST)
        assert acc.lookups() == 2  # served from the cache
        assert crm_tenant.crm.stats["cache_hits"] == hits + 2


async def test_slow_or_down_crm_gives_null_and_a_warning(gql: GQL, crm_tenant: CrmTenant) -> None:
    acc = crm_tenant.account
    acc.customers["c9"] = {"id": "c9", "name": "Cy"}
    cid = await create(gql, crmReferences={"customer_id": "c9"})
    acc.mode, acc.delay_s = "slow", 2.0  # enrich_timeout_s is 0.5
    body = await gql(ONE, {"id": cid})
    assert "errors" not in body
    assert body["data"]["conversation"]["customer"] is None
    [warning] = body["extensions"]["warnings"]
    assert warning["code"] == "CRM_UNAVAILABLE"
    assert "timed out" in warning["message"]
    acc.mode = "fail"
    body = await gql(ONE, {"id": cid})
    assert body["data"]["conversation"]["customer"] is None
    assert "HTTP 500" in body["extensions"]["warnings"][0]["message"]
    assert crm_tenant.token not in str(body)
    acc.mode = "ok"  # not cached while failing: the next read gets it
    assert (await gql.ok(ONE, {"id": cid}))["conversation"]["customer"]["name"] == "Cy"


async def test_breaker_opens_and_recovers(
    gql: GQL, crm_tenant: CrmTenant, fake_crm: FakeCrm
) -> None:
    crm_tenant.reconfigure(fake_crm, breaker_failures=2, breaker_reset_s=30)
    configured = crm_tenant.crm.client_for(crm_tenant.tenant)
    assert configured is not None
    _, client = configured
    now = [1000.0]
    client.breaker.clock = lambda: now[0]
    acc = crm_tenant.account
    acc.mode = "fail"
    ids = [await create(gql, crmReferences={"customer_id": f"k{i}"}) for i in range(3)]
    for cid in ids[:2]:
        await gql(ONE, {"id": cid})
    assert breaker_state(client.breaker) is BreakerState.OPEN
    calls = len(acc.requests)
    body = await gql(ONE, {"id": ids[2]})
    assert len(acc.requests) == calls  # fails fast: the CRM is not called
    assert "circuit" in body["extensions"]["warnings"][0]["message"]
    acc.mode = "ok"
    acc.customers["k2"] = {"id": "k2", "name": "Back"}
    now[0] += 30
    assert (await gql.ok(ONE, {"id": ids[2]}))["conversation"]["customer"]["name"] == "Back"
    assert breaker_state(client.breaker) is BreakerState.CLOSED


async def test_tenant_isolation_of_crm_configuration(
    gql: GQL, crm_tenant: CrmTenant, fake_crm: FakeCrm
) -> None:
    crm_tenant.account.customers["shared-id"] = {"id": "shared-id", "name": "A's customer"}
    await create(gql, crmReferences={"customer_id": "shared-id"})
    other_tenant = f"t-{uuid.uuid4().hex[:12]}"
    other = gql.as_tenant(other_tenant)
    await create(other, crmReferences={"customer_id": "shared-id"})
    body = await other(LIST)
    [node] = body["data"]["conversations"]["nodes"]
    assert node["customer"] is None  # tenant B has no CRM: A's is never used
    assert node["crmSync"] == {"status": "NONE", "error": "no CRM configured"}
    # B gets its own CRM: its own customers, never A's cached ones
    token_b = new_token()
    fake_crm.account(token_b).customers["shared-id"] = {"id": "shared-id", "name": "B's customer"}
    crm_tenant.crm.directory.set(other_tenant, crm_config(fake_crm, token_b, other_tenant))
    try:
        [node] = (await other.ok(LIST))["conversations"]["nodes"]
        assert node["customer"]["name"] == "B's customer"
        [mine] = (await gql.ok(LIST))["conversations"]["nodes"]
        assert mine["customer"]["name"] == "A's customer"
    finally:
        crm_tenant.crm.directory.set(other_tenant, None)


async def test_lookup_customer_for_agents_and_redis_cache(
    container: Container, crm_tenant: CrmTenant, gql: GQL, redis_url: str, fake_crm: FakeCrm
) -> None:
    import redis.asyncio as aioredis

    crm_tenant.account.customers["r1"] = {"id": "r1", "name": "Redis Ray"}
    cid = await create(gql, crmReferences={"customer_id": "r1"})
    record = await container.db.query(crm_tenant.tenant, get_conversation, cid)
    assert container.crm is not None
    found = await lookup_customer(container.crm, crm_tenant.tenant, record)
    assert found is not None
    assert found["name"] == "Redis Ray"
    redis = aioredis.from_url(redis_url)
    env = f"test-{uuid.uuid4().hex[:8]}"
    service = CrmService(CrmDirectory({crm_tenant.tenant: crm_tenant.config}), redis=redis, env=env)
    try:
        before = crm_tenant.account.lookups()
        for _ in range(3):
            found = await lookup_customer(service, crm_tenant.tenant, record)
            assert found is not None
            assert found["id"] == "r1"
        assert crm_tenant.account.lookups() == before + 1
        keys = [k async for k in redis.scan_iter(f"nooble4:{env}:*")]
        assert len(keys) == 1
        assert crm_tenant.tenant.encode() in keys[0]
        assert 0 < await redis.pttl(keys[0]) <= 300_000
        # another process (a second service on the same Redis) hits the same cache
        peer = CrmService(
            CrmDirectory({crm_tenant.tenant: crm_tenant.config}), redis=redis, env=env
        )
        found = await lookup_customer(peer, crm_tenant.tenant, record)
        assert found is not None
        assert found["id"] == "r1"
        assert crm_tenant.account.lookups() == before + 1
        await peer.aclose()
    finally:
        async for k in redis.scan_iter(f"nooble4:{env}:*"):
            await redis.delete(k)
        await service.aclose()
        await redis.aclose()


@pytest.mark.parametrize("link", [{}, {"crmReferences": {"customer_id": ""}}])
async def test_no_link_no_call(gql: GQL, crm_tenant: CrmTenant, link: dict[str, Any]) -> None:
    cid = await create(gql, **link)
    assert (await gql.ok(ONE, {"id": cid}))["conversation"]["customer"] is None
    assert crm_tenant.account.requests == []


async def test_agents_get_the_customer_in_their_context(gql: GQL, crm_tenant: CrmTenant) -> None:
    crm_tenant.account.customers["c9"] = {"id": "c9", "name": "Cy", "email": "cy@x.io"}
    cid = await create(gql, crmReferences={"customer_id": "c9"})
    await gql.ok(
        'mutation($c: ID!) { addMessage(conversationId: $c, input: {role: USER, content: "hi"}) { seq } }',
        {"c": cid},
    )
    data = await gql.ok(
        "query($c: ID!) { conversationContext(conversationId: $c) { messages { seq } customer } }",
        {"c": cid},
    )
    assert data["conversationContext"]["customer"]["name"] == "Cy"
    assert [m["seq"] for m in data["conversationContext"]["messages"]] == [1]
