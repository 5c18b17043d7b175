"""What a store needs from its unit of work: the tenant, the dialect, and the connection."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conversation_service.domain.errors import WriteConflict


class Session(Protocol):
    tenant_id: str
    dialect: str

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, opened (and begun) on first use."""
        ...

    async def driver(self) -> Any:
        """The transaction's asyncpg connection, the transaction begun (PostgreSQL only): for
        the hot statements whose SQL is built once, with no SQLAlchemy layer per execution."""
        ...

    async def plan_for_values(self) -> None:
        """Plan the transaction's statements for their own values (PostgreSQL custom plans)."""
        ...


class Store:
    """Bound to one unit of work: its tenant and dialect are copied in (plain slots, read on
    every statement of the hot paths)."""

    __slots__ = ("_session", "dialect", "tenant_id")

    def __init__(self, session: Session) -> None:
        self._session = session
        self.tenant_id = session.tenant_id
        self.dialect = session.dialect


def conflict(exc: IntegrityError) -> WriteConflict:
    """A unique key taken by a concurrent writer, as the domain names it."""
    return WriteConflict(f"write conflict: {type(exc.orig).__name__}")
