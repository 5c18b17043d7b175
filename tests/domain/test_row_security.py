"""Row-level security, the second wall (PostgreSQL): every unit of work runs as the service's role
with its tenant set on its BEGIN, so a query without the service's own tenant filter still sees
and writes only that tenant's rows; without a tenant, no rows. Also: what it costs in round trips.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from conversation_service.adapters.database import Database, create_engine
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.domain.commands import NewConversation
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.events import NullPublisher
from conversation_service.domain.messages import add_message
from conversation_service.migrate import upgrade
from tests.domain.helpers import msg
from tests.roundtrips import count_round_trips

pytestmark = pytest.mark.parametrize("container", ["postgresql"], indirect=True)

#: Tables with a tenant_id that are deliberately outside row-level security (none).
UNGUARDED: set[str] = set()


def _url(container: Container) -> str:
    return container.settings.database_url


@pytest.fixture
async def small_db(container: Container) -> AsyncIterator[Database]:
    """A database of its own with a pool of 2 connections (no overflow)."""
    settings = Settings(
        database_url=_url(container), db_pool_size=2, db_max_overflow=0, db_pool_timeout_s=30
    )
    db = Database(create_engine(settings), NullPublisher(), settings=settings)
    try:
        yield db
    finally:
        await db.dispose()


async def _seed(db: Database, tenant: str) -> str:
    record, _ = await db.run(
        tenant, create_conversation, NewConversation(initial_messages=[msg("user", "hello")])
    )
    return record.id


async def _raw(db: Database, tenant: str, sql: str, *, write: bool = False) -> list[Any]:
    """`sql` as it stands (no tenant filter of ours) in a unit of work of `tenant`."""
    uow = db(tenant) if write else db.reading(tenant)
    async with uow:
        conn = await uow.connection()
        rows = (await conn.execute(text(sql))).all()
        if write:
            await uow.commit()
    return list(rows)


async def test_a_query_without_the_tenant_filter_sees_only_its_tenant(
    db: Database, tenant: str
) -> None:
    other = f"{tenant}-other"
    await _seed(db, tenant)
    await _seed(db, other)
    for table in ("conversations", "messages", "conversation_state", "audit_log"):
        for write in (False, True):
            rows = await _raw(db, tenant, f"SELECT tenant_id FROM {table}", write=write)
            assert {r.tenant_id for r in rows} <= {tenant}, table
    messages = await _raw(db, tenant, "SELECT * FROM messages")
    assert [m.tenant_id for m in messages] == [tenant]
    # the same rows, seen by the owner's connection (no tenant, a superuser): both are there
    async with db.read() as conn:
        both = await conn.scalar(
            text("SELECT count(*) FROM messages WHERE tenant_id IN (:a, :b)"),
            {"a": tenant, "b": other},
        )
    assert both == 2


async def test_foreign_rows_can_be_neither_changed_nor_written(db: Database, tenant: str) -> None:
    other = f"{tenant}-other"
    foreign = await _seed(db, other)
    changed = await _raw(
        db, tenant, f"UPDATE conversations SET title = 'x' WHERE id = '{foreign}' RETURNING id",
        write=True,
    )  # fmt: skip
    assert changed == []
    gone = await _raw(db, tenant, f"DELETE FROM crm_sync WHERE tenant_id = '{other}' RETURNING 1",
                      write=True)  # fmt: skip
    assert gone == []
    with pytest.raises(DBAPIError, match="row-level security"):
        await _raw(
            db, tenant,
            "INSERT INTO conversation_tags (tenant_id, conversation_id, tag) "
            f"VALUES ('{other}', '{foreign}', 'planted') RETURNING 1",
            write=True,
        )  # fmt: skip


async def test_without_a_tenant_no_rows(db: Database, tenant: str) -> None:
    await _seed(db, tenant)
    async with db.read() as conn:
        await conn.execute(text(f"SET LOCAL ROLE {db.app_role}"))
        assert await conn.scalar(text("SELECT count(*) FROM messages")) == 0
        assert await conn.scalar(text("SELECT count(*) FROM conversations")) == 0
        await conn.rollback()


async def test_the_unit_of_work_runs_as_the_role_without_bypass(db: Database, tenant: str) -> None:
    (row,) = await _raw(
        db, tenant,
        "SELECT current_user AS who, current_setting('app.tenant_id') AS tenant, "
        "r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user",
    )  # fmt: skip
    assert (row.who, row.tenant, row.rolsuper, row.rolbypassrls) == (
        db.app_role, tenant, False, False
    )  # fmt: skip
    async with db.read() as conn:  # the setting and the role ended with the transaction
        assert await conn.scalar(text("SELECT current_user")) != db.app_role


async def test_every_tenant_table_is_guarded(container: Container) -> None:
    async with container.db.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies, "
                    "  pg_get_userbyid(c.relowner) AS owner "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
                )
            )
        ).all()
    tables = {r.relname: r for r in rows}
    assert {"conversations", "messages", "conversation_state", "audit_log"} <= set(tables)
    app_role = container.db.app_role
    for name, r in tables.items():
        if name in UNGUARDED:
            continue
        assert (r.relrowsecurity, r.relforcerowsecurity, r.policies) == (True, True, 1), name
        assert r.owner != app_role, name


async def test_migrate_is_idempotent_and_the_role_may_not_rewrite_the_audit_log(
    container: Container, tenant: str
) -> None:
    await upgrade(container.db.engine)  # a second time: nothing changes, nothing fails
    db = container.db
    await _seed(db, tenant)
    with pytest.raises(DBAPIError, match="permission denied"):
        await _raw(db, tenant, "DELETE FROM audit_log RETURNING 1", write=True)
    with pytest.raises(DBAPIError, match="permission denied"):
        await _raw(db, tenant, "UPDATE audit_log SET actor = 'x' RETURNING 1", write=True)


async def test_1000_interleaved_tenants_on_2_connections_never_meet(small_db: Database) -> None:
    tenants = [f"t-{uuid.uuid4().hex[:12]}" for _ in range(1000)]
    gate = asyncio.Semaphore(8)  # more units of work in flight than connections

    async def one(tenant: str) -> tuple[str, list[str], list[str]]:
        async with gate:
            await _seed(small_db, tenant)
            seen = [r.tenant_id for r in await _raw(small_db, tenant, "SELECT * FROM messages")]
            written = await _raw(
                small_db, tenant, "SELECT tenant_id FROM conversations", write=True
            )
            return tenant, seen, [r.tenant_id for r in written]

    results = await asyncio.gather(*(one(t) for t in tenants))
    for tenant, seen, written in results:
        assert seen == [tenant]
        assert written == [tenant]
    assert small_db.engine.pool.size() == 2  # type: ignore[attr-defined]


async def test_a_failed_opening_drops_its_connection_and_the_next_one_works(
    container: Container, tenant: str
) -> None:
    settings = Settings(
        database_url=_url(container), db_pool_size=1, db_max_overflow=0,
        database_app_role="cs_no_such_role",
    )  # fmt: skip
    db = Database(create_engine(settings), NullPublisher(), settings=settings)
    try:
        with pytest.raises(DBAPIError, match="cs_no_such_role"):
            await _raw(db, tenant, "SELECT 1")
        db.app_role = container.db.app_role
        db._session_settings.clear()
        assert await _raw(db, tenant, "SELECT current_user AS who") == [(db.app_role,)]
    finally:
        await db.dispose()


async def _pinned(container: Container) -> tuple[Database, Any]:
    settings = Settings(database_url=_url(container), db_pool_size=1, db_max_overflow=0)
    db = Database(create_engine(settings), NullPublisher(), settings=settings)
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
    return db, driver


async def test_tenant_role_and_audit_cost_no_round_trip(container: Container, tenant: str) -> None:
    """A read unit of work of one statement is 3 round trips (BEGIN, the statement, ROLLBACK),
    a write of one statement too (BEGIN, the statement, COMMIT): the tenant and the role ride on
    the BEGIN, the audit entries on the COMMIT."""
    db, driver = await _pinned(container)
    try:
        cid = await _seed(db, tenant)
        for _ in range(2):  # the second time, every statement is prepared already
            with count_round_trips([driver]) as reads:
                await _raw(db, tenant, "SELECT id FROM conversations")
            with count_round_trips([driver]) as writes:
                async with db(tenant) as uow:
                    conn = await uow.connection()
                    await conn.execute(text("UPDATE conversations SET title = 't'"))
                    uow.audit("conversation.update", cid)
                    await uow.commit()
        assert len(reads) == 3, reads
        assert reads[0].startswith("query: BEGIN")
        assert "app.tenant_id" in reads[0]
        assert reads[-1].startswith("query: ROLLBACK")
        assert len(writes) == 3, writes
        assert writes[-1].startswith("query: INSERT INTO audit_log")
        assert writes[-1].endswith("COMMIT;")
        with count_round_trips([driver]) as added:
            await db.run(tenant, add_message, cid, msg("user", "again"))
        assert added[0].startswith("query: BEGIN")
        assert added[-1].endswith("COMMIT;")
    finally:
        await db.dispose()


async def test_a_failed_audit_insert_undoes_the_change_and_drops_the_connection(
    container: Container, tenant: str
) -> None:
    """The entries ride on the COMMIT: when they cannot be written, nothing is committed, and
    the connection (left mid-transaction) is dropped; the pool's next unit of work works."""
    db, _ = await _pinned(container)
    try:
        cid = await _seed(db, tenant)

        async def change_with_a_bad_entry() -> None:
            async with db(tenant) as uow:
                conn = await uow.connection()
                await conn.execute(text("UPDATE conversations SET title = 'lost'"))
                uow.audit("x" * 65, cid)  # longer than the action column takes
                await uow.commit()

        with pytest.raises(DBAPIError, match="too long"):
            await change_with_a_bad_entry()
        (row,) = await _raw(db, tenant, "SELECT title FROM conversations")
        assert row.title is None
        actions = await _raw(db, tenant, "SELECT action FROM audit_log ORDER BY action")
        assert [a.action for a in actions] == ["conversation.create", "message.add"]
    finally:
        await db.dispose()
