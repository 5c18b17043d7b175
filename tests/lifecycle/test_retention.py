"""Retention on both backends: policies (admin), the boundary instant of each data type
(`--now`), tombstones that keep every invariant, archiving through the status change, dry runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from conversation_service.adapters.database import Database, create_engine
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.domain import messages as msg_domain
from conversation_service.domain import retention as domain
from conversation_service.domain.clock import utcnow
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.events import NullPublisher
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.state import get_state
from conversation_service.migrate import upgrade
from conversation_service.retention_runner import run_retention
from tests.conftest import GQL, error_codes
from tests.lifecycle.helpers import conversation, seed, stored_messages, stored_usage

POLICY = "{ retentionPolicy { messagesDays stateDays archiveAfterDays auditDays defaultDays defaulted updatedAt } }"
SET = """mutation($i: SetRetentionPolicyInput!) { setRetentionPolicy(input: $i) {
  messagesDays stateDays archiveAfterDays auditDays defaulted updatedAt } }"""
SEARCH = "query($q: String!) { searchMessages(query: $q) { totalCount edges { node { id } } } }"
INSERT_AUDIT = text(
    "INSERT INTO audit_log (tenant_id, id, at, actor, action) "
    "VALUES (:t, lower(hex(randomblob(16))), :at, 'test', 'test.old')"
)
BY_SOURCE = "query($d: String!) { messagesBySource(documentId: $d) { totalCount } }"


def settings_of(db: Database, **changes: object) -> Settings:
    return db.settings.with_(**changes)


async def set_policy(db: Database, tenant: str, **days: int | None) -> domain.EffectivePolicy:
    return await db.run(tenant, domain.set_retention_policy, domain.RetentionChanges(**days))


async def test_policy_defaults_set_reset_and_bad_values(gql: GQL) -> None:
    data = (await gql.ok(POLICY))["retentionPolicy"]
    assert data == {
        "messagesDays": 365, "stateDays": 365, "archiveAfterDays": 365, "auditDays": 365,
        "defaultDays": 365,
        "defaulted": ["messagesDays", "stateDays", "archiveAfterDays", "auditDays"],
        "updatedAt": None,
    }  # fmt: skip
    got = (await gql.ok(SET, {"i": {"messagesDays": 30, "auditDays": 90}}))["setRetentionPolicy"]
    assert (got["messagesDays"], got["stateDays"], got["auditDays"]) == (30, 365, 90)
    assert got["defaulted"] == ["stateDays", "archiveAfterDays"]
    assert got["updatedAt"] is not None
    # a field left out keeps its value; null puts it back to the default
    got = (await gql.ok(SET, {"i": {"messagesDays": None, "stateDays": 7}}))["setRetentionPolicy"]
    assert (got["messagesDays"], got["stateDays"], got["auditDays"]) == (365, 7, 90)
    assert (await gql.ok(POLICY))["retentionPolicy"]["stateDays"] == 7
    for bad in (0, -1, 36_501):
        body = await gql(SET, {"i": {"archiveAfterDays": bad}})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert (await gql.ok(POLICY))["retentionPolicy"]["archiveAfterDays"] == 365


async def test_policy_is_per_tenant(gql: GQL) -> None:
    await gql.ok(SET, {"i": {"messagesDays": 3}})
    other = gql.as_tenant(f"{gql.tenant}-other")
    assert (await other.ok(POLICY))["retentionPolicy"]["messagesDays"] == 365


async def test_messages_expire_after_the_boundary_instant(
    container: Container, gql: GQL, tenant: str
) -> None:
    db = container.db
    await set_policy(db, tenant, messages_days=30)
    seeded = await seed(db, tenant, messages=4)
    keep = await seed(db, tenant, messages=2)  # a later conversation, younger messages
    first = seeded.messages[0].created_at
    settings = settings_of(db, retention_batch=3)
    before = await conversation(db, tenant, seeded.conversation_id)

    # exactly 30 days after the first message: nothing is older than the cutoff yet
    report = await run_retention(db, settings, now=first + timedelta(days=30), tenant=tenant)
    assert report.tenants[0].messages == 0
    # one microsecond later the first message (and only the messages older) expire
    now = seeded.messages[2].created_at + timedelta(days=30)
    report = await run_retention(db, settings, now=now, tenant=tenant)
    cutoff = now - timedelta(days=30)
    expected = [m.seq for m in seeded.messages if m.created_at < cutoff]
    assert expected == [1, 2]
    assert report.tenants[0].messages == len(expected)

    stored = await stored_messages(db, tenant, seeded.conversation_id)
    assert [m.seq for m in stored] == [1, 2, 3, 4]  # gapless: tombstones keep their seq
    for m, original in zip(stored, seeded.messages, strict=True):
        assert m.id == original.id
        if m.seq in expected:
            assert (m.erased, m.content, m.metadata, m.sources) == (True, "", {}, [])
            assert (m.execution, m.tool_calls, m.token_count) == (None, None, 0)
        else:
            assert not m.erased
            assert m.content == original.content
    after = await conversation(db, tenant, seeded.conversation_id)
    assert after.message_count == before.message_count == after.last_seq == 4
    assert after.total_tokens == stored_usage(stored) < before.total_tokens
    assert after.version > before.version
    # the younger conversation is untouched
    assert not any(m.erased for m in await stored_messages(db, tenant, keep.conversation_id))

    # cursors keep working across tombstones; the tombstone reads erased over GraphQL too
    page = await db.query(
        tenant, msg_domain.list_messages, seeded.conversation_id, MessageWindow(first=2)
    )
    assert [m.seq for m in page.items] == [1, 2]
    data = await gql.ok(
        "query($c: ID!) { messages(conversationId: $c, first: 4) { totalCount nodes { seq erased content sources { documentId } } } }",
        {"c": seeded.conversation_id},
    )
    nodes = data["messages"]["nodes"]
    assert data["messages"]["totalCount"] == 4
    assert [n["erased"] for n in nodes] == [True, True, False, False]
    assert (nodes[0]["content"], nodes[0]["sources"]) == ("", [])

    # an agent's context ends at the newest tombstone
    ctx = await gql.ok(
        "query($c: ID!) { conversationContext(conversationId: $c, maxMessages: 10) { messages { seq } omittedMessages } }",
        {"c": seeded.conversation_id},
    )
    assert [m["seq"] for m in ctx["conversationContext"]["messages"]] == [3, 4]
    assert ctx["conversationContext"]["omittedMessages"] == 2

    # a whole day later everything of the first conversation is gone; search and sources too
    await run_retention(db, settings, now=now + timedelta(days=1), tenant=tenant)
    assert all(m.erased for m in await stored_messages(db, tenant, seeded.conversation_id))
    hits = (await gql.ok(SEARCH, {"q": seeded.marker}))["searchMessages"]
    assert (hits["totalCount"], hits["edges"]) == (0, [])
    assert (await gql.ok(BY_SOURCE, {"d": seeded.document_id}))["messagesBySource"][
        "totalCount"
    ] == 0
    # REST shows the tombstone too
    rest = await gql.client.get(
        f"/api/v1/conversations/{seeded.conversation_id}/messages",
        headers={"X-Tenant-ID": tenant},
    )
    assert rest.status_code == 200
    assert [(i["erased"], i["content"]) for i in rest.json()["items"]] == [(True, "")] * 4


async def test_state_expires_after_state_days(db: Database, tenant: str) -> None:
    await set_policy(db, tenant, state_days=10)
    seeded = await seed(db, tenant, messages=1)
    entry = await db.query(tenant, get_state, seeded.conversation_id, "profile")
    assert entry is not None
    settings = settings_of(db)
    report = await run_retention(
        db, settings, now=entry.updated_at + timedelta(days=10), tenant=tenant
    )
    assert report.tenants[0].state == 0
    assert await db.query(tenant, get_state, seeded.conversation_id, "profile") is not None
    report = await run_retention(
        db, settings, now=entry.updated_at + timedelta(days=10, microseconds=1), tenant=tenant
    )
    assert report.tenants[0].state == 1
    assert await db.query(tenant, get_state, seeded.conversation_id, "profile") is None
    # messages follow their own policy (365 days): untouched
    assert not any(m.erased for m in await stored_messages(db, tenant, seeded.conversation_id))


async def test_idle_conversations_are_archived_by_the_status_change(
    container: Container, gql: GQL, tenant: str
) -> None:
    db = container.db
    await set_policy(db, tenant, archive_after_days=90, messages_days=1000)
    idle = await seed(db, tenant, messages=2)
    fresh = await seed(db, tenant, messages=1)
    idle_conv = await conversation(db, tenant, idle.conversation_id)
    fresh_conv = await conversation(db, tenant, fresh.conversation_id)
    assert idle_conv.last_message_at is not None
    assert fresh_conv.last_message_at is not None
    settings = settings_of(db, retention_batch=1)  # one conversation per window
    report = await run_retention(
        db, settings, now=idle_conv.last_message_at + timedelta(days=90), tenant=tenant
    )
    assert report.tenants[0].archived == 0
    now = fresh_conv.last_message_at + timedelta(days=90)  # idle is older than the cutoff
    report = await run_retention(db, settings, now=now, tenant=tenant)
    assert report.tenants[0].archived == 1
    archived = await conversation(db, tenant, idle.conversation_id)
    assert archived.status is ConversationStatus.ARCHIVED
    assert archived.version == idle_conv.version + 1
    assert (await conversation(db, tenant, fresh.conversation_id)).status is (
        ConversationStatus.ACTIVE
    )
    # its messages stay readable; a second run does nothing more
    assert len(await stored_messages(db, tenant, idle.conversation_id)) == 2
    report = await run_retention(db, settings, now=now, tenant=tenant)
    assert report.tenants[0].archived == 0


async def test_dry_run_counts_and_changes_nothing(db: Database, tenant: str) -> None:
    await set_policy(db, tenant, messages_days=1, state_days=1, archive_after_days=1)
    seeded = await seed(db, tenant, messages=3)
    later = seeded.messages[-1].created_at + timedelta(days=2)
    before = await conversation(db, tenant, seeded.conversation_id)
    report = await run_retention(db, settings_of(db), now=later, tenant=tenant, dry_run=True)
    due = report.due[tenant]
    assert (due.archive, due.messages, due.state) == (1, 3, 1)
    assert await conversation(db, tenant, seeded.conversation_id) == before
    report = await run_retention(db, settings_of(db), now=later, tenant=tenant)
    run = report.tenants[0]
    assert (run.archived, run.messages, run.state) == (1, 3, 1)
    assert (await run_retention(db, settings_of(db), now=later, tenant=tenant, dry_run=True)).due[
        tenant
    ] == domain.Due(0, 0, 0, due.audit if due.audit is None else 0)


async def test_every_tenant_is_visited_without_tenant(db: Database, tenant: str) -> None:
    other = tenant + "-b"
    await set_policy(db, tenant, messages_days=5)
    await set_policy(db, other, messages_days=5)
    a = await seed(db, tenant, messages=1)
    b = await seed(db, other, messages=1)
    now = max(a.messages[0].created_at, b.messages[0].created_at) + timedelta(days=6)
    report = await run_retention(db, settings_of(db), now=now, dry_run=True)
    assert {tenant, other} <= {t.tenant_id for t in report.tenants}
    assert report.due[tenant].messages == report.due[other].messages == 1


def test_now_needs_an_offset() -> None:
    with pytest.raises(ValidationFailed):
        domain.check_now(datetime(2026, 1, 1))


async def test_audit_purge_when_the_table_exists(tmp_path: Path, tenant: str) -> None:
    """Audit entries older than auditDays are deleted at the boundary, in batches (a fresh
    SQLite database: the run visits only this test's tenant)."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    engine = create_engine(settings)
    db = Database(engine, NullPublisher(), settings=settings.with_(retention_batch=2))
    try:
        await upgrade(engine)
        report = await run_retention(db, db.settings, tenant=tenant)
        assert report.tenants[0].audit == 0  # nothing old: nothing to do, no error
        async with engine.begin() as conn:
            exists = await conn.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'")
            )
            if not exists:  # a deployment without the audit log: the purge's own columns
                await conn.execute(
                    text(
                        "CREATE TABLE audit_log (tenant_id TEXT, id TEXT, at TIMESTAMP, "
                        "actor TEXT, action TEXT, target_id TEXT, request_id TEXT)"
                    )
                )
        await set_policy(db, tenant, audit_days=30)
        now = utcnow()
        async with engine.begin() as conn:
            for days in (29, 30, 31, 40, 50):
                at = (now - timedelta(days=days)).replace(tzinfo=None)
                await conn.execute(INSERT_AUDIT, {"t": tenant, "at": at})
            old = (now - timedelta(days=99)).replace(tzinfo=None)
            await conn.execute(INSERT_AUDIT, {"t": f"{tenant}x", "at": old})
        report = await run_retention(db, db.settings, now=now, tenant=tenant)
        assert report.tenants[0].audit == 3  # 31, 40 and 50 days old
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM audit_log WHERE tenant_id IN (:a, :b)"),
                {"a": tenant, "b": f"{tenant}x"},
            )
        # 29, 30 (at the boundary: kept), the other tenant's; with the audit log's own table
        # also the entries of the policy change and of the run itself (retention.set, .run)
        assert left == 3 + (2 if exists else 0)
    finally:
        await engine.dispose()
