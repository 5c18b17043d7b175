"""Indexes for subscribers resynchronising by time (messages and conversations).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_tenant_created", "messages", ["tenant_id", "created_at"])
    op.create_index("ix_conversations_tenant_updated", "conversations", ["tenant_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_tenant_updated", table_name="conversations")
    op.drop_index("ix_messages_tenant_created", table_name="messages")
