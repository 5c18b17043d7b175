"""The `message_sources` table: the RAG documents a message cites, one row per (message, position).

The message row keeps a denormalised copy (`messages.sources`) for the read path; this table
serves the other direction, every message that cited a document (`messagesBySource`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, ForeignKeyConstraint, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime


class MessageSource(SQLModel, table=True):
    __tablename__ = "message_sources"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["messages.tenant_id", "messages.id"],
            ondelete="CASCADE",
        ),
        # messagesBySource: keyset on (created_at, message_id) within one document.
        Index(
            "ix_message_sources_tenant_document",
            "tenant_id",
            "document_id",
            "created_at",
            "message_id",
        ),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    message_id: str = Field(sa_column=Column(String(36), primary_key=True))
    position: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    conversation_id: str = Field(sa_column=Column(String(36), nullable=False))
    document_id: str = Field(sa_column=Column(String(255), nullable=False))
    title: str | None = Field(default=None, sa_column=Column(Text))
    url: str | None = Field(default=None, sa_column=Column(Text))
    snippet: str | None = Field(default=None, sa_column=Column(Text))
    score: float | None = Field(default=None, sa_column=Column(Float))
    metadata_: dict[str, Any] = Field(sa_column=Column("metadata", JSONType, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
