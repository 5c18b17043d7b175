"""Data lifecycle: message tombstones (`messages.erased`), per-tenant retention policies,
erasure receipts, and the lease that keeps one retention runner at a time.

The partial index on live messages lets retention find the oldest messages not yet erased
without walking the tombstones; the state index lets it find entries not written for a while.

PostgreSQL: the two tenant tables get row-level security as every other one (0008); the
retention runner's pass across tenants (`app.tenant_id` = `*`, as the CRM runner's claim) may
read `conversations` and `retention_policies` of every tenant, to enumerate the tenants. The
lease table has no tenant.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TENANT_TABLES = ("retention_policies", "erasure_receipts")
POLICY = "tenant_isolation"
SAME_TENANT = "tenant_id = current_setting('app.tenant_id', true)"
#: the retention runner's pass across tenants (retention_runner.ANY_TENANT), reading only
ANY_TENANT = "current_setting('app.tenant_id', true) = '*'"
ACROSS = "retention_tenants"


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "messages",
        sa.Column("erased", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.create_index(
        "ix_messages_tenant_live_created",
        "messages",
        ["tenant_id", "created_at"],
        postgresql_where=sa.text("NOT erased"),
        sqlite_where=sa.text("NOT erased"),
    )
    op.create_index(
        "ix_conversation_state_tenant_updated",
        "conversation_state",
        ["tenant_id", "updated_at"],
    )
    op.create_table(
        "retention_policies",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("messages_days", sa.Integer()),
        sa.Column("state_days", sa.Integer()),
        sa.Column("archive_after_days", sa.Integer()),
        sa.Column("audit_days", sa.Integer()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "erasure_receipts",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("subject", JSON_TYPE, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("state_entries", sa.Integer(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_erasure_receipts_tenant_subject",
        "erasure_receipts",
        ["tenant_id", "subject_key", "at"],
    )
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({SAME_TENANT}) WITH CHECK ({SAME_TENANT})"
        )
    for table in ("conversations", "retention_policies"):
        op.execute(f"CREATE POLICY {ACROSS} ON {table} FOR SELECT USING ({ANY_TENANT})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP POLICY IF EXISTS {ACROSS} ON conversations")
    op.drop_table("maintenance_leases")
    op.drop_index("ix_erasure_receipts_tenant_subject", table_name="erasure_receipts")
    op.drop_table("erasure_receipts")
    op.drop_table("retention_policies")
    op.drop_index("ix_conversation_state_tenant_updated", table_name="conversation_state")
    op.drop_index("ix_messages_tenant_live_created", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("erased")
