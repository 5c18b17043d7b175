"""`conversations.total_tokens` becomes 64-bit: it sums per-message counts of up to 2^31-1 each,
so two large messages overflowed the 32-bit column and made the conversation unwritable.

SQLite's INTEGER already holds 64 bits (the model keeps INTEGER there), so only PostgreSQL
changes; rewriting the table on SQLite would also cascade through its foreign keys.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "conversations",
            "total_tokens",
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=False,
            existing_server_default=sa.text("0"),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Totals beyond 32 bits cannot go back: they saturate.
        op.execute(
            "UPDATE conversations SET total_tokens = 2147483647 WHERE total_tokens > 2147483647"
        )
        op.alter_column(
            "conversations",
            "total_tokens",
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=False,
            existing_server_default=sa.text("0"),
        )
