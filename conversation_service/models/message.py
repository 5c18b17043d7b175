"""The `messages` table: gapless `seq` per conversation, assigned inside the insert transaction.

An erased message (retention or erasure) stays as a tombstone: same id and seq, `erased` true,
empty content and metadata, so history stays gapless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            ondelete="CASCADE",
        ),
        Index(
            "ux_messages_tenant_conversation_seq",
            "tenant_id",
            "conversation_id",
            "seq",
            unique=True,
        ),
        Index(
            "ux_messages_tenant_conversation_client_id",
            "tenant_id",
            "conversation_id",
            "client_message_id",
            unique=True,
            postgresql_where=text("client_message_id IS NOT NULL"),
            sqlite_where=text("client_message_id IS NOT NULL"),
        ),
        Index(
            "ix_messages_tenant_conversation_created", "tenant_id", "conversation_id", "created_at"
        ),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        Index("ix_messages_tenant_agent_created", "tenant_id", "agent_id", "created_at"),
        # Context building pins system messages: found without scanning the history.
        Index(
            "ix_messages_tenant_conversation_system",
            "tenant_id",
            "conversation_id",
            "seq",
            postgresql_where=text("role = 'system'"),
            sqlite_where=text("role = 'system'"),
        ),
        # Retention finds the oldest messages not yet erased without walking the tombstones.
        Index(
            "ix_messages_tenant_live_created",
            "tenant_id",
            "created_at",
            postgresql_where=text("NOT erased"),
            sqlite_where=text("NOT erased"),
        ),
        # Analysis filters: conversations with a message of an intent (EXISTS on the first
        # three columns), one conversation's messages of an intent in seq order.
        Index(
            "ix_messages_tenant_intent_conversation_seq",
            "tenant_id",
            "intent",
            "conversation_id",
            "seq",
            postgresql_where=text("intent IS NOT NULL"),
            sqlite_where=text("intent IS NOT NULL"),
        ),
        Index(
            "ix_messages_tenant_conversation_sentiment",
            "tenant_id",
            "conversation_id",
            "sentiment",
            postgresql_where=text("sentiment IS NOT NULL"),
            sqlite_where=text("sentiment IS NOT NULL"),
        ),
        # `messageAnnotated` subscribers catching up after a broker outage.
        Index(
            "ix_messages_tenant_analyzed",
            "tenant_id",
            "analyzed_at",
            postgresql_where=text("analyzed_at IS NOT NULL"),
            sqlite_where=text("analyzed_at IS NOT NULL"),
        ),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    conversation_id: str = Field(sa_column=Column(String(36), nullable=False))
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_type: str = Field(sa_column=Column(String(64), nullable=False, server_default="text"))
    sender_id: str | None = Field(default=None, sa_column=Column(String(255)))
    agent_id: str | None = Field(default=None, sa_column=Column(String(255)))
    model_used: str | None = Field(default=None, sa_column=Column(String(255)))
    token_count: int | None = Field(default=None, sa_column=Column(Integer))
    processing_time_ms: int | None = Field(default=None, sa_column=Column(Integer))
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", JSONType, nullable=False))
    sources: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    execution: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    tool_calls: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONType))
    tool_call_id: str | None = Field(default=None, sa_column=Column(String(255)))
    client_message_id: str | None = Field(default=None, sa_column=Column(String(255)))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    erased: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    sentiment: float | None = Field(default=None, sa_column=Column(Float))
    intent: str | None = Field(default=None, sa_column=Column(String(128)))
    entities: Any = Field(default=None, sa_column=Column(JSONType))
    #: when the analysis was written (null: never analysed)
    analyzed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
