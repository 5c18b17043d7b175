"""Message analysis: `sentiment`, `intent`, `entities` and `analyzed_at` on messages, and the
indexes behind the intent and sentiment filters and the `messageAnnotated` catch-up.

The indexes are partial (only analysed messages), so messages without an analysis cost the
write path nothing but the predicate.

Revision ID: 0010
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_INDEXES = (
    (
        "ix_messages_tenant_intent_conversation_seq",
        ["tenant_id", "intent", "conversation_id", "seq"],
        "intent",
    ),
    (
        "ix_messages_tenant_conversation_sentiment",
        ["tenant_id", "conversation_id", "sentiment"],
        "sentiment",
    ),
    ("ix_messages_tenant_analyzed", ["tenant_id", "analyzed_at"], "analyzed_at"),
)


def upgrade() -> None:
    op.add_column("messages", sa.Column("sentiment", sa.Float(), nullable=True))
    op.add_column("messages", sa.Column("intent", sa.String(128), nullable=True))
    op.add_column("messages", sa.Column("entities", _JSON, nullable=True))
    op.add_column("messages", sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=True))
    for name, columns, column in _INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "messages", columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, _columns, _column in _INDEXES:
        op.drop_index(name, table_name="messages")
    for column in ("analyzed_at", "entities", "intent", "sentiment"):
        op.drop_column("messages", column)
