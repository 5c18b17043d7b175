"""The `audit_log` table: who changed what, when, through which request.

One row per write (and admin action), inserted in the same transaction as the change it records,
so a rolled-back change leaves no entry and a committed one always has its entry. The service's
database role may insert and read these rows but neither update nor delete them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from conversation_service.models.types import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        # keyset (newest first) of one tenant, alone or by action / actor
        Index("ix_audit_log_tenant_at", "tenant_id", "at", "id"),
        Index("ix_audit_log_tenant_action_at", "tenant_id", "action", "at", "id"),
        Index("ix_audit_log_tenant_actor_at", "tenant_id", "actor", "at", "id"),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    target_id: str | None = Field(default=None, sa_column=Column(Text))
    request_id: str | None = Field(default=None, sa_column=Column(String(128)))
