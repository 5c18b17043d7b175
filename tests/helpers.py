"""Small helpers shared by the tests: counting rows straight from the tables, SQL statement counting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from conversation_service.adapters.database import Database
from conversation_service.models import audit_log, conversation_state, conversations, messages
from conversation_service.schema.fast_path import unverified


async def row_counts(db: Database, tenant: str) -> dict[str, int]:
    """How many rows the tenant has in each table (to prove that nothing was written)."""
    out: dict[str, int] = {}
    async with db.read() as conn:
        for name, table in (
            ("conversations", conversations),
            ("messages", messages),
            ("state", conversation_state),
        ):
            stmt = select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
            out[name] = int(await conn.scalar(stmt) or 0)
    return out


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """Records every SQL statement the engine sends while the block runs (one execution:
    the fast path's verification run, on in the test suite, is paused here)."""
    seen: list[str] = []

    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _before)
    try:
        with unverified():
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _before)


async def audit_rows(db: Database, tenant: str) -> list[Any]:
    """The tenant's audit entries, oldest first, straight from the table."""
    async with db.read() as conn:
        stmt = select(audit_log).where(audit_log.c.tenant_id == tenant)
        rows = (await conn.execute(stmt.order_by(audit_log.c.at, audit_log.c.id))).all()
    return list(rows)
