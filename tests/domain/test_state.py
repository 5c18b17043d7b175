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
    rec, _ = await conv_domain.create_conversation(db, tenant, NewConversation())
    return rec.id


async def expire_now(db, tenant, cid, key) -> None:
    """Moves an entry's expiry into the past, as if its TTL had run out (no sleeping)."""
    S = conversation_state.c
    async with db.transaction() as tx:
        await tx.conn.execute(
            update(conversation_state)
            .where(S.tenant_id == tenant, S.conversation_id == cid, S.key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def test_write_read_and_versions(db, tenant):
    cid = await new_conversation(db, tenant)
    one = await domain.write_state(db, tenant, cid, StateWrite("k", {"n": 1}))
    two = await domain.write_state(
        db, tenant, cid, StateWrite("k", {"n": 2}, state_type=StateType.MEMORY)
    )
    assert (one.version, two.version) == (1, 2)
    got = await domain.get_state(db, tenant, cid, "k")
    assert got is not None
    assert (got.value, got.version, got.state_type) == ({"n": 2}, 2, StateType.MEMORY)
    assert await domain.get_state(db, tenant, cid, "absent") is None


async def test_expected_version_compare_and_set(db, tenant):
    cid = await new_conversation(db, tenant)
    created = await domain.write_state(db, tenant, cid, StateWrite("k", 1, expected_version=0))
    assert created.version == 1
    with pytest.raises(Conflict):
        await domain.write_state(db, tenant, cid, StateWrite("k", 2, expected_version=0))
    with pytest.raises(Conflict):
        await domain.write_state(db, tenant, cid, StateWrite("k", 2, expected_version=5))
    ok = await domain.write_state(db, tenant, cid, StateWrite("k", 3, expected_version=1))
    assert (ok.value, ok.version) == (3, 2)
    got = await domain.get_state(db, tenant, cid, "k")
    assert got is not None
    assert got.value == 3


async def test_concurrent_cas_has_one_winner(db, tenant):
    cid = await new_conversation(db, tenant)
    results = await asyncio.gather(
        *(
            domain.write_state(db, tenant, cid, StateWrite("lock", i, expected_version=0))
            for i in range(6)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_ttl_expiry_hides_the_entry(db, tenant):
    cid = await new_conversation(db, tenant)
    w = await domain.write_state(db, tenant, cid, StateWrite("tmp", "v", ttl_seconds=60))
    assert w.expires_at is not None
    assert timedelta(seconds=55) < w.expires_at - utcnow() <= timedelta(seconds=60)
    assert await domain.get_state(db, tenant, cid, "tmp") is not None
    await expire_now(db, tenant, cid, "tmp")
    assert await domain.get_state(db, tenant, cid, "tmp") is None
    listed = await domain.state_for_conversations(db, tenant, [cid])
    assert listed[cid] == []
    # An expired entry counts as absent for compare-and-set, and its version keeps rising.
    again = await domain.write_state(db, tenant, cid, StateWrite("tmp", "new", expected_version=0))
    assert again.version == 2
    assert again.expires_at is None


async def test_delete_by_null_and_versions_keep_rising(db, tenant):
    cid = await new_conversation(db, tenant)
    await domain.write_state(db, tenant, cid, StateWrite("k", "a"))
    await domain.write_state(db, tenant, cid, StateWrite("k", "b"))
    deleted = await domain.write_state(db, tenant, cid, StateWrite("k", None))
    assert deleted.version == 3
    assert deleted.value is None
    assert await domain.get_state(db, tenant, cid, "k") is None
    # deleting again changes nothing
    noop = await domain.write_state(db, tenant, cid, StateWrite("k", None))
    assert noop.version == 3
    # a stale expectation can never match the re-created key
    with pytest.raises(Conflict):
        await domain.write_state(db, tenant, cid, StateWrite("k", "c", expected_version=2))
    recreated = await domain.write_state(db, tenant, cid, StateWrite("k", "c", expected_version=0))
    assert recreated.version == 4
    got = await domain.get_state(db, tenant, cid, "k")
    assert got is not None
    assert (got.value, got.version) == ("c", 4)


async def test_state_of_unknown_conversation_is_not_found(db, tenant):
    with pytest.raises(NotFound):
        await domain.write_state(db, tenant, str(uuid.uuid4()), StateWrite("k", 1))
    with pytest.raises(NotFound):
        await domain.get_state(db, tenant, str(uuid.uuid4()), "k")


async def test_falsy_values_are_stored_not_deleted(db, tenant):
    cid = await new_conversation(db, tenant)
    for i, value in enumerate([0, False, "", [], {}]):
        rec = await domain.write_state(db, tenant, cid, StateWrite(f"k{i}", value))
        got = await domain.get_state(db, tenant, cid, f"k{i}")
        assert got is not None, value
        assert got.value == value
        assert rec.version == 1
