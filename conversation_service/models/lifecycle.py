"""Tables of the data lifecycle: retention policies, erasure receipts, and the lease that lets one
retention runner work at a time across processes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from conversation_service.models.types import JSONType, UTCDateTime


class RetentionPolicy(SQLModel, table=True):
    """One row per tenant that set a policy; a null column means RETENTION_DEFAULT_DAYS."""

    __tablename__ = "retention_policies"

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    messages_days: int | None = Field(default=None, sa_column=Column(Integer))
    state_days: int | None = Field(default=None, sa_column=Column(Integer))
    archive_after_days: int | None = Field(default=None, sa_column=Column(Integer))
    audit_days: int | None = Field(default=None, sa_column=Column(Integer))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ErasureReceipt(SQLModel, table=True):
    """What one erasure removed, kept as its proof; `subject_key` finds the earlier erasure of
    the same subject (a repeated erasure that finds nothing new returns it)."""

    __tablename__ = "erasure_receipts"
    __table_args__ = (
        Index("ix_erasure_receipts_tenant_subject", "tenant_id", "subject_key", "at"),
    )

    tenant_id: str = Field(sa_column=Column(String(64), primary_key=True))
    id: str = Field(sa_column=Column(String(36), primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    subject_key: str = Field(sa_column=Column(String(64), nullable=False))
    subject: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    actor: str | None = Field(default=None, sa_column=Column(String(255)))
    conversations: int = Field(sa_column=Column(Integer, nullable=False))
    messages: int = Field(sa_column=Column(Integer, nullable=False))
    state_entries: int = Field(sa_column=Column(Integer, nullable=False))
    sources: int = Field(sa_column=Column(Integer, nullable=False))


class MaintenanceLease(SQLModel, table=True):
    """A named lease across processes (not per tenant): `owner` holds it until `expires_at`;
    `finished_at` is when its last complete run ended (the schedule's clock)."""

    __tablename__ = "maintenance_leases"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    owner: str | None = Field(default=None, sa_column=Column(String(255)))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
