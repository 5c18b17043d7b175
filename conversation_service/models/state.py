"""The `conversation_state` table: versioned key/value entries with optional expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, Index, Integer, String
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_state"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            ondelete="CASCADE",
        ),
        # Retention deletes the entries not written for stateDays, oldest first.
        Index("ix_conversation_state_tenant_updated", "tenant_id", "updated_at"),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    conversation_id: str = Field(sa_column=Column(String(36), primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    value: Any = Field(default=None, sa_column=Column(JSONType, nullable=False))
    state_type: str = Field(sa_column=Column(String(16), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
