"""Database failures that mean "down or too slow", mapped to one domain error in one place.

A stopped database raises connection errors (refused, reset, `ConnectionDoesNotExistError`), a
frozen one client-side timeouts (`command_timeout`, connect `timeout`: `TimeoutError`), a slow
query the server's `statement_timeout` (`QueryCanceledError`, SQLSTATE 57014), a full pool
SQLAlchemy's pool `TimeoutError`. Each arrives wrapped differently (SQLAlchemy's DBAPIError with
`.orig`, the adapter's error with `__cause__`), so the whole chain is inspected. Every door maps
`Unavailable` to its shape: GraphQL `UNAVAILABLE`, HTTP 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from conversation_service.domain.errors import DomainError

#: Seconds a client is told to wait (`Retry-After`).
RETRY_AFTER_S = 5
#: SQLSTATEs that say the server cannot serve now: connection exceptions (class 08), query
#: canceled (statement timeout), shutting down, starting up, too many connections.
_UNAVAILABLE_STATES = ("08", "57014", "57P01", "57P02", "57P03", "53300")
_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,  # refused, reset, unreachable (asyncpg may raise a plain OSError)
    sa_exc.TimeoutError,  # pool acquire timeout
    asyncpg.PostgresConnectionError,
    asyncpg.QueryCanceledError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # e.g. "connection is closed"
)


#: Exception types a database call may raise (for doors that register handlers by type).
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    TimeoutError,
    OSError,
)


class Unavailable(DomainError):
    """A dependency (the database) is down or timed out; retry after `retry_after` seconds."""

    code = "UNAVAILABLE"

    def __init__(self, message: str = "The database is unavailable; retry later") -> None:
        super().__init__(message)
        self.retry_after = RETRY_AFTER_S


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        orig = getattr(e, "orig", None)
        todo.extend([e.__cause__, e.__context__, orig if isinstance(orig, BaseException) else None])
    return seen


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """`Unavailable` when `exc` (or what it wraps) says the database is down or timed out."""
    for e in _chain(exc):
        if isinstance(e, Unavailable):
            return e
        if isinstance(e, _UNAVAILABLE_TYPES):
            return Unavailable()
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return Unavailable()
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return Unavailable()
    return None
