"""The `crm_sync` table: one row per conversation that was ever asked to sync to its CRM.

A request is a row write (persisted before any attempt); the sync runner claims due rows, pushes,
and records the outcome here. `claim_token` + `next_attempt_at` form a lease, so a runner that
dies mid-push leaves the row to be claimed again once the lease expires.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from conversation_service.models.types import UTCDateTime


class CrmSync(SQLModel, table=True):
    __tablename__ = "crm_sync"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            ondelete="CASCADE",
        ),
        # Only pending rows are indexed: the runner's scan costs what is due, not the history.
        Index(
            "ix_crm_sync_tenant_due",
            "tenant_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    conversation_id: str = Field(sa_column=Column(String(36), primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    requested_seq: int = Field(sa_column=Column(Integer, nullable=False))
    last_synced_seq: int | None = Field(default=None, sa_column=Column(Integer))
    synced_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claim_token: str | None = Field(default=None, sa_column=Column(String(36)))
    crm_id: str | None = Field(default=None, sa_column=Column(String(255)))
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
