"""The migrated PostgreSQL schema obeys Citus's rules for distribution by `tenant_id`
(docs/scaling.md): every primary key, unique constraint, unique index and foreign key of a
tenant table includes `tenant_id`, and foreign keys join on it. Other tables must be named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from conversation_service.bootstrap import Container

pytestmark = pytest.mark.parametrize("container", ["postgresql"], indirect=True)

#: Small global tables replicated to every node: API keys are looked up by key id before any
#: tenant is known (a key names its tenant).
REFERENCE_TABLES: set[str] = {"api_keys"}
#: Tables that stay on the coordinator.
LOCAL_TABLES = {"alembic_version", "maintenance_leases"}  # the retention lease: one row

KEYS = text(
    """
    SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype::text,
           ARRAY(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a
                 ON a.attrelid = c.conrelid AND a.attnum = k) AS columns,
           ARRAY(SELECT a.attname FROM unnest(c.confkey) k JOIN pg_attribute a
                 ON a.attrelid = c.confrelid AND a.attnum = k) AS ref_columns
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
    UNION ALL
    SELECT i.indrelid::regclass::text, ci.relname, 'i',
           ARRAY(SELECT a.attname FROM unnest(i.indkey) k JOIN pg_attribute a
                 ON a.attrelid = i.indrelid AND a.attnum = k), ARRAY[]::name[]
    FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = ci.relnamespace
    WHERE n.nspname = 'public' AND i.indisunique AND NOT i.indisprimary
    """
)
TABLES = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'pg_%'"
)


async def test_every_key_of_a_tenant_table_includes_tenant_id(container: Container) -> None:
    async with container.db.engine.connect() as conn:
        tables = {r[0] for r in await conn.execute(TABLES)}
        keys = (await conn.execute(KEYS)).all()
    tenant_tables = tables - REFERENCE_TABLES - LOCAL_TABLES
    assert {"conversations", "messages", "conversation_state"} <= tenant_tables
    problems = []
    for table, name, kind, columns, ref_columns in keys:
        if table not in tenant_tables:
            continue
        if "tenant_id" not in columns:
            problems.append(f"{table}.{name} ({kind}) lacks tenant_id: {columns}")
        if kind == "f" and list(columns).index("tenant_id") != list(ref_columns).index("tenant_id"):
            problems.append(
                f"{table}.{name} does not join on tenant_id: {columns} -> {ref_columns}"
            )
    assert problems == []
    for table in tenant_tables:
        assert any(k[0] == table and k[2] == "p" for k in keys), f"{table} has no primary key"
