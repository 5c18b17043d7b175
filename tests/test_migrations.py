"""Alembic migrations on fresh PostgreSQL and SQLite databases leave no difference from the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from conversation_service.adapters.database import create_engine
from conversation_service.config import Settings
from conversation_service.migrate import include_object, upgrade
from conversation_service.models import metadata
from tests.conftest import _create_pg_database, _drop_pg_database, _unavailable, pg_url


def _diff(connection: Any) -> list[Any]:
    ctx = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(ctx, metadata))


def _indexes(connection: Any) -> dict[str, list[str]]:
    insp = inspect(connection)
    return {t: [i["name"] for i in insp.get_indexes(t)] for t in insp.get_table_names()}


async def _check(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
            indexes = await conn.run_sync(_indexes)
    finally:
        await engine.dispose()
    assert diff == []
    assert {"conversations", "messages", "conversation_state", "conversation_tags"} <= set(indexes)
    assert "ux_messages_tenant_conversation_seq" in indexes["messages"]


async def test_sqlite_migrations_match_models(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


async def test_postgresql_migrations_match_models() -> None:
    try:
        name = await _create_pg_database()
    except OSError as exc:
        _unavailable("PostgreSQL", exc)
        raise
    try:
        await _check(pg_url(name))
    finally:
        await _drop_pg_database(name)
