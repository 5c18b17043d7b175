"""Full-text search over message content within a tenant, ranked, with a highlighted snippet.

PostgreSQL: the generated `messages.search_vector` tsvector (language `SEARCH_LANGUAGE`, `simple`
by default: tenants write Spanish and English) behind a GIN index on (tenant_id, search_vector);
`ts_rank` orders, `ts_headline` highlights only the returned page. SQLite: the FTS5 table
`messages_fts` (kept in sync by triggers) with `bm25` and `snippet`. Both read the query as plain
words that must all match (no operators), so user input can never be a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.sql import ColumnElement

from conversation_service.adapters.database import Database
from conversation_service.config import Settings
from conversation_service.domain import validation as v
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    bounded,
    decode_cursor,
    encode_cursor,
)
from conversation_service.domain.records import MessageRecord
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c
MAX_QUERY_CHARS = 500
START_SEL, STOP_SEL, ELLIPSIS = "<b>", "</b>", "…"
_WORD_RE = re.compile(r"\w+", re.UNICODE)

fts = table("messages_fts", column("tenant_id"), column("message_id"), column("content"))
_language = "simple"
_max_candidates = 1000


def configure(settings: Settings) -> None:
    """The text-search configuration the migration built `search_vector` with."""
    global _language, _max_candidates
    _language = settings.search_language
    _max_candidates = settings.search_max_candidates


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    conversation_id: str | None = None
    agent_id: str | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None

    def validated(self) -> SearchQuery:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValidationFailed("query must not be empty", field="query")
        if len(self.query) > MAX_QUERY_CHARS:
            raise ValidationFailed(
                f"query must be at most {MAX_QUERY_CHARS} characters", field="query"
            )
        if "\x00" in self.query:
            raise ValidationFailed("query must not contain NUL characters", field="query")
        cid = self.conversation_id
        if cid is not None:
            cid = v.uuid_id(cid, "conversation_id")
        v.identifier(self.agent_id, "agent_id")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValidationFailed("from_date must not be after to_date", field="from_date")
        return SearchQuery(self.query, cid, self.agent_id, self.from_date, self.to_date)

    @property
    def words(self) -> list[str]:
        return _WORD_RE.findall(self.query)


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


def _filters(tenant_id: str, q: SearchQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [M.tenant_id == tenant_id]
    if q.conversation_id is not None:
        conds.append(M.conversation_id == q.conversation_id)
    if q.agent_id is not None:  # the agent's conversations, as agentUsage counts them
        conds.append(
            M.conversation_id.in_(
                select(C.id).where(C.tenant_id == tenant_id, C.agent_id == q.agent_id)
            )
        )
    if q.from_date is not None:
        conds.append(M.created_at >= q.from_date)
    if q.to_date is not None:
        conds.append(M.created_at <= q.to_date)
    return conds


def _pg_parts(q: SearchQuery) -> tuple[Any, ColumnElement[Any], ColumnElement[bool]]:
    language = bindparam("search_language", _language, type_=REGCONFIG)
    tsquery = func.plainto_tsquery(language, q.query)
    vector: ColumnElement[Any] = literal_column("messages.search_vector")
    rank = cast(func.ts_rank(vector, tsquery), Float)
    return tsquery, rank, vector.op("@@")(tsquery)


def _fts_match(q: SearchQuery) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in q.words)


async def search_messages(
    db: Database,
    tenant_id: str,
    q: SearchQuery,
    first: int | None = None,
    after: str | None = None,
) -> SearchResult:
    """Best match first (ties by message id); keyset pagination on (rank, id)."""
    q = q.validated()
    size = bounded(first, "first", 0, MAX_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size is None else size
    cursor = _parse_cursor(after) if after is not None else None
    if not q.words:
        return SearchResult([], False, after is not None)
    conds = _filters(tenant_id, q)
    if db.dialect == "postgresql":
        tsquery, rank, matches = _pg_parts(q)
        # Rank at most the newest `_max_candidates` matches, ranked inside the candidate scan:
        # ts_rank reads every candidate's tsvector, so a word found in most messages would
        # otherwise cost O(matches), and one scan (no second lookup per candidate) keeps the
        # whole statement bounded by the cap.
        candidates = (
            select(messages, rank.label("rank"))
            .where(*conds, matches)
            .order_by(M.created_at.desc())
            .limit(_max_candidates)
            .subquery("candidates")
        )
        outer: list[ColumnElement[bool]] = []
        if cursor is not None:
            r, cid = candidates.c.rank, candidates.c.id
            outer.append(or_(r < cursor[0], and_(r == cursor[0], cid > cursor[1])))
        page = (
            select(candidates)
            .where(*outer)
            .order_by(candidates.c.rank.desc(), candidates.c.id)
            .limit(size + 1)
            .subquery()
        )
        options = f"StartSel={START_SEL}, StopSel={STOP_SEL}, MaxWords=35, MinWords=15"
        language = bindparam("search_language", _language, type_=REGCONFIG)
        stmt = select(
            page,
            func.ts_headline(language, page.c.content, tsquery, options).label("snippet"),
        ).order_by(page.c.rank.desc(), page.c.id)
    else:
        fts_table: ColumnElement[Any] = literal_column("messages_fts")
        bm25 = -func.bm25(fts_table)
        inner = (
            select(
                messages,
                bm25.label("rank"),
                func.snippet(fts_table, 0, START_SEL, STOP_SEL, ELLIPSIS, 24).label("snippet"),
            )
            .select_from(
                fts.join(messages, and_(M.tenant_id == fts.c.tenant_id, M.id == fts.c.message_id))
            )
            .where(fts_table.op("MATCH")(_fts_match(q)), fts.c.tenant_id == tenant_id, *conds)
            .subquery()
        )
        outer_conds = []
        if cursor is not None:
            outer_conds.append(
                or_(
                    inner.c.rank < cursor[0],
                    and_(inner.c.rank == cursor[0], inner.c.id > cursor[1]),
                )
            )
        stmt = (
            select(inner)
            .where(*outer_conds)
            .order_by(inner.c.rank.desc(), inner.c.id)
            .limit(size + 1)
        )
    # Custom plans: the best plan depends on how many messages hold the words (see Database.read).
    async with db.read(custom_plans=True) as conn:
        rows = (await conn.execute(stmt)).all()
    hits = [
        SearchHit(MessageRecord.from_row(r), float(r.rank), r.snippet or "") for r in rows[:size]
    ]
    return SearchResult(hits, len(rows) > size, after is not None)


async def count_search(db: Database, tenant_id: str, q: SearchQuery) -> int:
    """How many matches the search can page through (asked for separately: it visits every
    match). On PostgreSQL that is at most SEARCH_MAX_CANDIDATES, the newest matches it ranks,
    so `totalCount` never promises pages that do not exist."""
    q = q.validated()
    if not q.words:
        return 0
    conds = _filters(tenant_id, q)
    if db.dialect == "postgresql":
        conds.append(_pg_parts(q)[2])
        # The ranking's candidates, in the same order: a plan that walks the time index stops
        # after the cap, as the ranking's does.
        capped = (
            select(M.id)
            .where(*conds)
            .order_by(M.created_at.desc())
            .limit(_max_candidates)
            .subquery()
        )
        stmt = select(func.count()).select_from(capped)
    else:
        stmt = (
            select(func.count())
            .select_from(
                fts.join(messages, and_(M.tenant_id == fts.c.tenant_id, M.id == fts.c.message_id))
            )
            .where(
                literal_column("messages_fts").op("MATCH")(_fts_match(q)),
                fts.c.tenant_id == tenant_id,
                *conds,
            )
        )
    async with db.read(custom_plans=True) as conn:
        return int(await conn.scalar(stmt) or 0)
