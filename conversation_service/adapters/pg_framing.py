"""Per-transaction statements that ride on the transaction's own BEGIN and COMMIT (PostgreSQL).

Row-level security needs `app.tenant_id` (and the service's role) set at the start of every
transaction, and the audit log is written at its end. Sent as statements of their own, they would
cost two round trips per transaction; asyncpg sends `BEGIN` and `COMMIT` as simple queries, which
may carry several statements, so this connection class appends the opening statements to the
`BEGIN` and puts the closing ones before the `COMMIT`: one message each, no round trip added.

The unit of work fills `begin_with` / `commit_with` on its connection (`SqlUnitOfWork`); both are
consumed by the next BEGIN / COMMIT and cleared when the connection returns to the pool. When such
a combined query fails, the connection is closed (the server rolls the transaction back, and the
pool drops the connection), so no half-opened or half-committed transaction is ever reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import String
from sqlalchemy.engine import Dialect

__all__ = ["FramedConnection", "literal_quoter"]


def literal_quoter(dialect: Dialect) -> Callable[[str], str]:
    """Quotes a string as an SQL literal the way SQLAlchemy renders literals for this server
    (it knows `standard_conforming_strings`): for statements sent without parameters."""
    quote = String().literal_processor(dialect)  # type: ignore[no-untyped-call]
    assert quote is not None
    return quote  # type: ignore[no-any-return]


class FramedConnection(asyncpg.Connection):
    """An asyncpg connection whose next BEGIN / COMMIT carries extra statements."""

    #: statements (each ending in `;`) to run right after the next BEGIN
    begin_with: str = ""
    #: statements (each ending in `;`) to run right before the next COMMIT
    commit_with: str = ""

    async def execute(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's own signature
    ) -> str:
        if not args:
            if self.begin_with and query.startswith("BEGIN"):
                query, self.begin_with = f"{query} {self.begin_with}", ""
                return await self._combined(query, timeout)
            if self.commit_with and query == "COMMIT;":
                query, self.commit_with = f"{self.commit_with} {query}", ""
                return await self._combined(query, timeout)
        result: str = await super().execute(query, *args, timeout=timeout)
        return result

    async def _combined(self, query: str, timeout: float | None) -> str:  # noqa: ASYNC109
        try:
            result: str = await super().execute(query, timeout=timeout)
        except BaseException:
            # The transaction may be left open and aborted, with the driver's and SQLAlchemy's
            # idea of it out of step: drop the connection instead (the server rolls back).
            self.terminate()
            raise
        return result

    def clear_framing(self) -> None:
        self.begin_with = ""
        self.commit_with = ""
