"""Schema migrations (Alembic) for both backends, callable from the CLI, `serve` and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from conversation_service.adapters.database import create_engine
from conversation_service.config import Settings

ROOT = Path(__file__).resolve().parent.parent


#: Database objects that migrations create on purpose outside the models (backend-specific
#: search machinery): the SQLite FTS5 index of message content (a virtual table and its shadow
#: tables), PostgreSQL's generated tsvector column and the GIN indexes built with raw SQL.
UNMODELLED_TABLE_PREFIXES = ("messages_fts",)
UNMODELLED_COLUMNS = {"search_vector"}
UNMODELLED_INDEXES = {"ix_messages_tenant_search", "ix_conversations_tenant_metadata"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave the objects above out of autogenerate and model comparisons."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    if type_ == "column":
        return name not in UNMODELLED_COLUMNS
    if type_ == "index":
        return name not in UNMODELLED_INDEXES
    return True


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision` (idempotent)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def upgrade_url(url: str, revision: str = "head") -> None:

    async def run() -> None:
        # No statement timeout: building an index on a large table may take minutes.
        engine = create_engine(Settings(database_url=url, db_statement_timeout_ms=0))
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
