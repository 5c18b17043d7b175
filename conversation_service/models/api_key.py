"""The `api_keys` table: one row per API key, holding only a hash of its secret.

Not a tenant table: a key names its tenant (`*` for a service key) and is looked up by its id
before any tenant is known, so it is read outside the tenant's row-level security and is, for
Citus, a small reference table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from conversation_service.models.types import UTCDateTime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_created", "tenant_id", "created_at"),)

    key_id: str = Field(sa_column=Column(String(40), primary_key=True))
    tenant_id: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    name: str | None = Field(default=None, sa_column=Column(String(200)))
    #: SHA-256 (hex) of the key's random secret; the secret itself is never stored
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
