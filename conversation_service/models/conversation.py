"""The `conversations` table and its tag index table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKeyConstraint, Index, Integer, String, text
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime

#: A sum of per-message counts (each up to 2^31-1): 64-bit. SQLite's INTEGER already is.
Counter64 = BigInteger().with_variant(Integer(), "sqlite")


class Conversation(SQLModel, table=True):
    """One conversation; counters (`message_count`, `last_seq`...) are kept by the message insert."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_conversations_tenant_user_created", "tenant_id", "user_id", "created_at"),
        Index("ix_conversations_tenant_agent_created", "tenant_id", "agent_id", "created_at"),
        Index("ix_conversations_tenant_session", "tenant_id", "session_id"),
        Index("ix_conversations_tenant_status_created", "tenant_id", "status", "created_at"),
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at"),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    user_id: str | None = Field(default=None, sa_column=Column(String(255)))
    agent_id: str | None = Field(default=None, sa_column=Column(String(255)))
    session_id: str | None = Field(default=None, sa_column=Column(String(255)))
    title: str | None = Field(default=None, sa_column=Column(String(500)))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="active"))
    tags: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", JSONType, nullable=False))
    participants: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    customer_info: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    crm_references: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    message_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    total_tokens: int = Field(
        default=0, sa_column=Column(Counter64, nullable=False, server_default=text("0"))
    )
    last_seq: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    last_message_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(
        default=1, sa_column=Column(Integer, nullable=False, server_default=text("1"))
    )


class ConversationTag(SQLModel, table=True):
    """One row per (conversation, tag): tag filters use an index that starts with tenant_id."""

    __tablename__ = "conversation_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            ondelete="CASCADE",
        ),
        Index("ix_conversation_tags_tenant_tag", "tenant_id", "tag", "conversation_id"),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    conversation_id: str = Field(sa_column=Column(String(36), primary_key=True))
    tag: str = Field(sa_column=Column(String(64), primary_key=True))
