"""What a store needs from its unit of work: the tenant, the dialect, and the connection."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conversation_service.domain.errors import WriteConflict


class Session(Protocol):
    tenant_id: str
    dialect: str

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, opened (and begun) on first use."""
        ...


class Store:
    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def tenant_id(self) -> str:
        return self._session.tenant_id

    @property
    def dialect(self) -> str:
        return self._session.dialect


def conflict(exc: IntegrityError) -> WriteConflict:
    """A unique key taken by a concurrent writer, as the domain names it."""
    return WriteConflict(f"write conflict: {type(exc.orig).__name__}")
