"""Row-level security on every tenant table (PostgreSQL) and the `audit_log` table (both).

PostgreSQL: each table with a `tenant_id` gets ROW LEVEL SECURITY, FORCEd (the owner is held to
it too, unless it is a superuser or has BYPASSRLS), and one policy: a row is visible and writable
only when its `tenant_id` equals the transaction's `app.tenant_id` setting, which the unit of work
sets on every BEGIN; unset (or empty), no row at all. The exception is `crm_sync`, the CRM
runner's queue: a transaction whose `app.tenant_id` is `*` (the runner's claim, which takes due
rows of every tenant; no tenant id can contain `*`) sees all of its rows. The role the service
runs as (`DATABASE_APP_ROLE`) is created and granted by `conversation-service migrate`.

SQLite has no row-level security: there the service's own tenant filter is the only wall.

Revision ID: 0008
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "conversations",
    "conversation_tags",
    "messages",
    "message_sources",
    "conversation_state",
    "crm_sync",
    "worker_actions",
    "audit_log",
)
POLICY = "tenant_isolation"
SAME_TENANT = "tenant_id = current_setting('app.tenant_id', true)"
#: the CRM runner's claim reads the queue across tenants (crm_runner.ANY_TENANT)
ANY_TENANT = "current_setting('app.tenant_id', true) = '*'"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at", "id"])
    op.create_index(
        "ix_audit_log_tenant_action_at", "audit_log", ["tenant_id", "action", "at", "id"]
    )
    op.create_index("ix_audit_log_tenant_actor_at", "audit_log", ["tenant_id", "actor", "at", "id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        visible = SAME_TENANT if table != "crm_sync" else f"{SAME_TENANT} OR {ANY_TENANT}"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({visible}) WITH CHECK ({visible})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_table("audit_log")
