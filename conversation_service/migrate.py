"""Schema migrations (Alembic) for both backends, callable from the CLI, `serve` and tests."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from conversation_service.adapters.database import create_engine
from conversation_service.config import Settings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP_ROLE: str = Settings.model_fields["database_app_role"].default


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


#: What the service's role may do: read and write the tenant tables, only add to the audit log.
APP_ROLE_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_log FROM {role}",
    "REVOKE ALL ON {schema}.alembic_version FROM {role}",
)


#: Operators of the hot reads' index conditions that PostgreSQL does not mark LEAKPROOF. Under
#: row-level security a condition that is not leakproof may not run before the policy, so it
#: cannot be an index condition: full-text search read every message of the tenant instead of
#: the GIN index's matches (17 ms instead of 0.4 ms for a rare word among 5,000 messages). They
#: raise no error that depends on the row's data and have no side effects.
LEAKPROOF_FUNCTIONS = (
    "pg_catalog.ts_match_vq(tsvector, tsquery)",  # search_vector @@ query
    "pg_catalog.jsonb_contains(jsonb, jsonb)",  # metadata @> filter
)


def _upgrade(connection: Connection, revision: str, app_role: str | None) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
    if app_role is not None and connection.dialect.name == "postgresql":
        ensure_app_role(connection, app_role)
        mark_leakproof(connection)


def mark_leakproof(connection: Connection) -> None:
    """Mark LEAKPROOF_FUNCTIONS leakproof in this database (needs a superuser; otherwise the
    statements to run as one are logged, and those reads scan more rows until then)."""
    superuser = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    statements = [f"ALTER FUNCTION {f} LEAKPROOF" for f in LEAKPROOF_FUNCTIONS]
    if not superuser:
        log.warning(
            "not a superuser: full-text search and metadata filters cannot use their indexes "
            "under row-level security until a superuser runs: %s",
            "; ".join(statements),
        )
        return
    for statement in statements:
        connection.execute(text(statement))


def ensure_app_role(connection: Connection, role: str) -> None:
    """Create (once) and grant the role the service runs its transactions as: no login of its
    own, no table of its own, no BYPASSRLS, so row-level security always applies to it; the
    migrating user becomes a member, so that the service connecting as that user may
    `SET LOCAL ROLE` to it. Idempotent; safe beside a concurrent migrate of another database of
    the same server (roles are server-wide)."""
    quoted = connection.dialect.identifier_preparer.quote(role)
    found = connection.execute(
        text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).first()
    if found is None:
        try:
            with connection.begin_nested():
                connection.execute(text(f"CREATE ROLE {quoted} NOLOGIN NOSUPERUSER NOBYPASSRLS"))
        except DBAPIError as exc:  # created meanwhile by a concurrent migrate
            if "already exists" not in str(exc.orig) and "duplicate key" not in str(exc.orig):
                raise
    elif found[0]:
        raise RuntimeError(
            f"DATABASE_APP_ROLE {role} is a superuser or has BYPASSRLS: row-level security "
            "would not apply to it; name another role"
        )
    owned = connection.execute(
        text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = :r"
        ),
        {"r": role},
    ).scalar_one()
    if owned:
        raise RuntimeError(
            f"DATABASE_APP_ROLE {role} owns tables: row-level security would not apply"
        )
    schema = connection.dialect.identifier_preparer.quote(
        connection.execute(text("SELECT current_schema()")).scalar_one()
    )
    for grant in APP_ROLE_GRANTS:
        connection.execute(text(grant.format(schema=schema, role=quoted)))
    member = connection.execute(
        text(
            "SELECT rolsuper OR pg_has_role(current_user, :r, 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        ),
        {"r": role},
    ).scalar_one()
    if not member:
        connection.execute(text(f"GRANT {quoted} TO CURRENT_USER"))


async def upgrade(
    engine: AsyncEngine, revision: str = "head", app_role: str | None = DEFAULT_APP_ROLE
) -> None:
    """Upgrade the database behind `engine` to `revision` and (PostgreSQL) create and grant
    `app_role` (idempotent)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision, app_role)


def upgrade_url(url: str, revision: str = "head", app_role: str | None = DEFAULT_APP_ROLE) -> None:

    async def run() -> None:
        # No statement timeout: building an index on a large table may take minutes.
        engine = create_engine(Settings(database_url=url, db_statement_timeout_ms=0))
        try:
            await upgrade(engine, revision, app_role)
        finally:
            await engine.dispose()

    asyncio.run(run())
