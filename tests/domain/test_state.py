"""Conversation state on both backends: CAS, expiry, delete by null, rising versions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import state as domain
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import NewConversation, StateWrite
from conversation_service.domain.enums import StateType
from conversation_service.domain.errors import Conflict, NotFound
from conversation_service.models import conversation_state


async def new_conversation(db, tenant) -> str:
    rec, _ = await db.run(tenant, conv_domain.create_conversation, NewConversation())
    return rec.id


async def expire_now(db, tenant, cid, key) -> None:
    """Moves an entry's expiry into the past, as if its TTL had run out (no sleeping)."""
    S = conversation_state.c
    async with db.engine.begin() as conn:
        await conn.execute(
            update(conversation_state)
            .where(S.tenant_id == tenant, S.conversation_id == cid, S.key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def test_write_read_and_versions(db, tenant):
    cid = await new_conversation(db, tenant)
    one = await db.run(tenant, domain.write_state, cid, StateWrite("k", {"n": 1}))
    two = await db.run(
        tenant, domain.write_state, cid, StateWrite("k", {"n": 2}, state_type=StateType.MEMORY)
    )
    assert (one.version, two.version) == (1, 2)
    got = await db.query(tenant, domain.get_state, cid, "k")
    assert got is not None
    assert (got.value, got.version, got.state_type) == ({"n": 2}, 2, StateType.MEMORY)
    assert await db.query(tenant, domain.get_state, cid, "absent") is None


async def test_expected_version_compare_and_set(db, tenant):
    cid = await new_conversation(db, tenant)
    created = await db.run(tenant, domain.write_state, cid, StateWrite("k", 1, expected_version=0))
    assert created.version == 1
    with pytest.raises(Conflict):
        await db.run(tenant, domain.write_state, cid, StateWrite("k", 2, expected_version=0))
    with pytest.raises(Conflict):
        await db.run(tenant, domain.write_state, cid, StateWrite("k", 2, expected_version=5))
    ok = await db.run(tenant, domain.write_state, cid, StateWrite("k", 3, expected_version=1))
    assert (ok.value, ok.version) == (3, 2)
    got = await db.query(tenant, domain.get_state, cid, "k")
    assert got is not None
    assert got.value == 3


async def test_concurrent_cas_has_one_winner(db, tenant):
    cid = await new_conversation(db, tenant)
    results = await asyncio.gather(
        *(
            db.run(tenant, domain.write_state, cid, StateWrite("lock", i, expected_version=0))
            for i in range(6)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_ttl_expiry_hides_the_entry(db, tenant):
    cid = await new_conversation(db, tenant)
    w = await db.run(tenant, domain.write_state, cid, StateWrite("tmp", "v", ttl_seconds=60))
    assert w.expires_at is not None
    assert timedelta(seconds=55) < w.expires_at - utcnow() <= timedelta(seconds=60)
    assert await db.query(tenant, domain.get_state, cid, "tmp") is not None
    await expire_now(db, tenant, cid, "tmp")
    assert await db.query(tenant, domain.get_state, cid, "tmp") is None
    listed = await db.query(tenant, domain.state_for_conversations, [cid])
    assert listed[cid] == []
    # An expired entry counts as absent for compare-and-set, and its version keeps rising.
    again = await db.run(
        tenant, domain.write_state, cid, StateWrite("tmp", "new", expected_version=0)
    )
    assert again.version == 2
    assert again.expires_at is None


async def test_delete_by_null_and_versions_keep_rising(db, tenant):
    cid = await new_conversation(db, tenant)
    await db.run(tenant, domain.write_state, cid, StateWrite("k", "a"))
    await db.run(tenant, domain.write_state, cid, StateWrite("k", "b"))
    deleted = await db.run(tenant, domain.write_state, cid, StateWrite("k", None))
    assert deleted.version == 3
    assert deleted.value is None
    assert await db.query(tenant, domain.get_state, cid, "k") is None
    # deleting again changes nothing
    noop = await db.run(tenant, domain.write_state, cid, StateWrite("k", None))
    assert noop.version == 3
    # a stale expectation can never match the re-created key
    with pytest.raises(Conflict):
        await db.run(tenant, domain.write_state, cid, StateWrite("k", "c", expected_version=2))
    recreated = await db.run(
        tenant, domain.write_state, cid, StateWrite("k", "c", expected_version=0)
    )
    assert recreated.version == 4
    got = await db.query(tenant, domain.get_state, cid, "k")
    assert got is not None
    assert (got.value, got.version) == ("c", 4)


async def test_state_of_unknown_conversation_is_not_found(db, tenant):
    with pytest.raises(NotFound):
        await db.run(tenant, domain.write_state, str(uuid.uuid4()), StateWrite("k", 1))
    with pytest.raises(NotFound):
        await db.query(tenant, domain.get_state, str(uuid.uuid4()), "k")


async def test_falsy_values_are_stored_not_deleted(db, tenant):
    cid = await new_conversation(db, tenant)
    for i, value in enumerate([0, False, "", [], {}]):
        rec = await db.run(tenant, domain.write_state, cid, StateWrite(f"k{i}", value))
        got = await db.query(tenant, domain.get_state, cid, f"k{i}")
        assert got is not None, value
        assert got.value == value
        assert rec.version == 1
