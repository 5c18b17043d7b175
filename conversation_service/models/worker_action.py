"""The `worker_actions` table: the action worker's idempotency ledger.

One row per applied action, written in the same transaction as the action's effect, so a
redelivered or duplicated action (same `action_id`) is recognised and answered with the reply
stored here instead of being applied twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, String
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime


class WorkerAction(SQLModel, table=True):
    __tablename__ = "worker_actions"

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    action_id: str = Field(sa_column=Column(String(64), primary_key=True))
    action_type: str = Field(sa_column=Column(String(255), nullable=False))
    conversation_id: str | None = Field(default=None, sa_column=Column(String(36)))
    stream_entry_id: str | None = Field(default=None, sa_column=Column(String(64)))
    success: bool = Field(sa_column=Column(Boolean, nullable=False))
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
