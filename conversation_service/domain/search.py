"""Full-text search over message content within a tenant, ranked, with a highlighted snippet.

PostgreSQL: the generated `messages.search_vector` tsvector (language `SEARCH_LANGUAGE`, `simple`
by default: tenants write Spanish and English) behind a GIN index on (tenant_id, search_vector);
`ts_rank` orders, `ts_headline` highlights only the returned page. SQLite: the FTS5 table
`messages_fts` (kept in sync by triggers) with `bm25` and `snippet`. Both read the query as plain
words that must all match (no operators), so user input can never be a syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversation_service.domain.commands import MAX_QUERY_CHARS, SearchQuery
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    bounded,
    decode_cursor,
    encode_cursor,
)
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import MessageRecord

__all__ = ["MAX_QUERY_CHARS", "SearchHit", "SearchQuery", "SearchResult", "search_messages"]


@dataclass(slots=True)
class SearchHit:
    message: MessageRecord
    rank: float
    snippet: str

    @property
    def cursor(self) -> str:
        return encode_cursor("q", repr(self.rank), self.message.id)


@dataclass(slots=True)
class SearchResult:
    hits: list[SearchHit]
    has_next: bool
    has_previous: bool


def _parse_cursor(cursor: str) -> tuple[float, str]:
    kind, rank, mid = decode_cursor(cursor, "after", 3)
    try:
        if kind != "q":
            raise ValueError
        return float(rank), mid
    except ValueError:
        raise ValidationFailed("after is not a search cursor", field="after") from None


async def search_messages(
    uow: UnitOfWork, q: SearchQuery, first: int | None = None, after: str | None = None
) -> SearchResult:
    """Best match first (ties by message id); keyset pagination on (rank, id)."""
    q = q.validated()
    size = bounded(first, "first", 0, MAX_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size is None else size
    cursor = _parse_cursor(after) if after is not None else None
    if not q.words:
        return SearchResult([], False, after is not None)
    rows = await uow.search.search(q, size, cursor)
    hits = [SearchHit(m, rank, snippet) for m, rank, snippet in rows[:size]]
    return SearchResult(hits, len(rows) > size, after is not None)


async def count_search(uow: UnitOfWork, q: SearchQuery) -> int:
    """How many matches the search can page through (asked for separately: it visits every
    match). On PostgreSQL that is at most SEARCH_MAX_CANDIDATES, the newest matches it ranks,
    so `totalCount` never promises pages that do not exist."""
    q = q.validated()
    if not q.words:
        return 0
    return await uow.search.count(q)
