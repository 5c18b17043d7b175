"""context, RAG sources, search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00

- `message_sources` (RAG documents per message) with an index on (tenant_id, document_id, ...).
- a partial index on system messages (context building pins them).
- full-text search: PostgreSQL a generated `search_vector` tsvector column (language from
  `SEARCH_LANGUAGE` at migration time, default `simple`) with a GIN index on (tenant_id,
  search_vector) via btree_gin; SQLite an FTS5 table `messages_fts` kept in sync by triggers.
- PostgreSQL: a GIN index on (tenant_id, metadata) for the conversation metadata filter.
- `token_count` filled in for messages stored before the service counted tokens.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from conversation_service.config import search_language

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

SQLITE_FTS = [
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
         content, tenant_id UNINDEXED, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
       )""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
         INSERT INTO messages_fts (content, tenant_id, message_id)
         VALUES (new.content, new.tenant_id, new.id);
       END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
         DELETE FROM messages_fts WHERE message_id = old.id AND tenant_id = old.tenant_id;
       END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
         UPDATE messages_fts SET content = new.content
         WHERE message_id = old.id AND tenant_id = old.tenant_id;
       END""",
    """INSERT INTO messages_fts (content, tenant_id, message_id)
       SELECT content, tenant_id, id FROM messages""",
]


def _postgres_search() -> None:
    bind = op.get_bind()
    language = search_language()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gin")
        has_btree_gin = True
    except sa.exc.DBAPIError:  # no privilege: GIN indexes without the tenant column
        has_btree_gin = False
    op.execute(
        "ALTER TABLE messages ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('{language}'::regconfig, content)) STORED"
    )
    if has_btree_gin:
        op.execute(
            "CREATE INDEX ix_messages_tenant_search ON messages "
            "USING gin (tenant_id, search_vector)"
        )
        op.execute(
            "CREATE INDEX ix_conversations_tenant_metadata ON conversations "
            "USING gin (tenant_id, metadata jsonb_path_ops)"
        )
    else:
        op.execute("CREATE INDEX ix_messages_tenant_search ON messages USING gin (search_vector)")
        op.execute(
            "CREATE INDEX ix_conversations_tenant_metadata ON conversations "
            "USING gin (metadata jsonb_path_ops)"
        )


def _backfill_token_counts() -> None:
    from conversation_service.domain import tokens

    bind = op.get_bind()
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT tenant_id, id, content FROM messages WHERE token_count IS NULL LIMIT 1000"
            )
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text("UPDATE messages SET token_count = :n WHERE tenant_id = :t AND id = :i"),
            [{"n": tokens.count(r.content), "t": r.tenant_id, "i": r.id} for r in rows],
        )


def upgrade() -> None:
    op.create_table(
        "message_sources",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("snippet", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["messages.tenant_id", "messages.id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "message_id", "position"),
    )
    with op.batch_alter_table("message_sources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_sources_tenant_document",
            ["tenant_id", "document_id", "created_at", "message_id"],
            unique=False,
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_tenant_conversation_system",
            ["tenant_id", "conversation_id", "seq"],
            unique=False,
            postgresql_where=sa.text("role = 'system'"),
            sqlite_where=sa.text("role = 'system'"),
        )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_search()
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)
    _backfill_token_counts()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_conversations_tenant_metadata")
        op.execute("DROP INDEX IF EXISTS ix_messages_tenant_search")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_tenant_conversation_system",
            postgresql_where=sa.text("role = 'system'"),
            sqlite_where=sa.text("role = 'system'"),
        )
    with op.batch_alter_table("message_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_message_sources_tenant_document")
    op.drop_table("message_sources")
