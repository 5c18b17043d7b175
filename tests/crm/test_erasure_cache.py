"""Erasure removes the subject's cached CRM customers: in Redis (shared by every instance) and
in the in-process cache, by customer id and by e-mail; other customers stay cached."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from conversation_service.adapters.crm import CrmDirectory, CrmService
from conversation_service.adapters.database import Database
from conversation_service.bootstrap import Container
from conversation_service.domain.conversations import get_conversation
from conversation_service.domain.crm_customers import cache_key, lookup_customer
from conversation_service.domain.erasure import ErasureSubject, erase_subject
from tests.crm.conftest import CrmTenant
from tests.lifecycle.helpers import seed


async def test_erasure_drops_the_subjects_customers_from_redis(
    container: Container, crm_tenant: CrmTenant, redis_url: str
) -> None:
    tenant = crm_tenant.tenant
    redis = aioredis.from_url(redis_url)
    env = f"test-{uuid.uuid4().hex[:8]}"
    crm = CrmService(CrmDirectory({tenant: crm_tenant.config}), redis=redis, env=env)
    db = Database(
        container.db.engine,
        container.db.publisher,
        settings=container.settings,
        crm=crm,
        reactions=container.db.reactions,
    )
    try:
        mine = await seed(db, tenant, user_id="ana", email="ana@example.com", messages=1)
        other = await seed(db, tenant, user_id="bob", messages=1)
        for s in (mine, other):
            crm_tenant.account.customers[f"cust-{s.marker}"] = {"id": f"cust-{s.marker}"}
        record = await db.query(tenant, get_conversation, mine.conversation_id)
        kept = await db.query(tenant, get_conversation, other.conversation_id)
        assert await lookup_customer(crm, tenant, record) is not None
        assert await lookup_customer(crm, tenant, kept) is not None
        config = crm_tenant.config

        def key(link: tuple[str, str]) -> bytes:
            return cache_key(crm, config, tenant, link).encode()

        # the subject's e-mail lookup is cached too, and someone else's e-mail
        for mail in ("ana@example.com", "zoe@example.com"):
            await crm.cache.set(cache_key(crm, config, tenant, ("email", mail)), {"id": mail}, 60)
        ana = {key(("id", f"cust-{mine.marker}")), key(("email", "ana@example.com"))}
        kept_keys = {key(("id", f"cust-{other.marker}")), key(("email", "zoe@example.com"))}
        assert {k async for k in redis.scan_iter(f"nooble4:{env}:*")} == ana | kept_keys

        receipt = await db.run(tenant, erase_subject, ErasureSubject(user_id="ana"))
        assert receipt.conversations == 1
        assert {k async for k in redis.scan_iter(f"nooble4:{env}:*")} == kept_keys
        # bob's customer is still served from the cache: no new CRM lookup
        before = crm_tenant.account.lookups()
        assert await lookup_customer(crm, tenant, kept) is not None
        assert crm_tenant.account.lookups() == before
    finally:
        async for k in redis.scan_iter(f"nooble4:{env}:*"):
            await redis.delete(k)
        await crm.aclose()
        await redis.aclose()


async def test_erasure_drops_the_customer_from_the_process_cache(
    container: Container, crm_tenant: CrmTenant
) -> None:
    tenant = crm_tenant.tenant
    db = container.db
    s = await seed(db, tenant, email="cy@example.com", messages=1)
    crm_tenant.account.customers[f"cust-{s.marker}"] = {"id": f"cust-{s.marker}"}
    record = await db.query(tenant, get_conversation, s.conversation_id)
    assert await lookup_customer(crm_tenant.crm, tenant, record) is not None
    before = crm_tenant.account.lookups()
    assert await lookup_customer(crm_tenant.crm, tenant, record) is not None
    assert crm_tenant.account.lookups() == before  # cached
    await db.run(tenant, erase_subject, ErasureSubject(customer_email="CY@example.com"))
    assert await lookup_customer(crm_tenant.crm, tenant, record) is not None  # the old record
    assert crm_tenant.account.lookups() == before + 1  # not from the cache any more
