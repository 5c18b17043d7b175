"""Full-text search over one tenant's messages: PostgreSQL tsvector + GIN, SQLite FTS5.

PostgreSQL: the generated `messages.search_vector` tsvector (language `SEARCH_LANGUAGE`) behind a
GIN index on (tenant_id, search_vector); `ts_rank` orders at most `SEARCH_MAX_CANDIDATES` of the
newest matches, `ts_headline` highlights only the returned page. SQLite: the FTS5 table
`messages_fts` (kept in sync by triggers) with `bm25` and `snippet`.
"""

from __future__ import annotations

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

from conversation_service.adapters.store.base import Session, Store
from conversation_service.domain.commands import SearchQuery
from conversation_service.domain.records import MessageRecord
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c
START_SEL, STOP_SEL, ELLIPSIS = "<b>", "</b>", "…"

fts = table("messages_fts", column("tenant_id"), column("message_id"), column("content"))


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


def _pg_parts(
    q: SearchQuery, _language: str
) -> tuple[Any, ColumnElement[Any], ColumnElement[bool]]:
    language = bindparam("search_language", _language, type_=REGCONFIG)
    tsquery = func.plainto_tsquery(language, q.query)
    vector: ColumnElement[Any] = literal_column("messages.search_vector")
    rank = cast(func.ts_rank(vector, tsquery), Float)
    return tsquery, rank, vector.op("@@")(tsquery)


def _fts_match(q: SearchQuery) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in q.words)


class SqlSearchStore(Store):
    __slots__ = ("_language", "_max_candidates")

    def __init__(self, session: Session, language: str, max_candidates: int) -> None:
        super().__init__(session)
        self._language = language  # the configuration the migration built search_vector with
        self._max_candidates = max_candidates

    async def search(
        self, q: SearchQuery, size: int, after: tuple[float, str] | None
    ) -> list[tuple[MessageRecord, float, str]]:
        """Up to `size` + 1 hits, best match first (ties by message id), keyset on (rank, id)."""
        tenant_id = self.tenant_id
        cursor = after
        _language = self._language
        _max_candidates = self._max_candidates
        conds = _filters(tenant_id, q)
        if self.dialect == "postgresql":
            tsquery, rank, matches = _pg_parts(q, _language)
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
                    fts.join(
                        messages, and_(M.tenant_id == fts.c.tenant_id, M.id == fts.c.message_id)
                    )
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

        # Custom plans: the best plan depends on how many messages hold the words.
        await self._session.plan_for_values()
        conn = await self._session.connection()
        rows = (await conn.execute(stmt)).all()
        return [(MessageRecord.from_row(r), float(r.rank), r.snippet or "") for r in rows]

    async def count(self, q: SearchQuery) -> int:
        """At most SEARCH_MAX_CANDIDATES on PostgreSQL: the matches a search ranks."""
        tenant_id = self.tenant_id
        _language = self._language
        _max_candidates = self._max_candidates
        conds = _filters(tenant_id, q)
        if self.dialect == "postgresql":
            conds.append(_pg_parts(q, _language)[2])
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
                    fts.join(
                        messages, and_(M.tenant_id == fts.c.tenant_id, M.id == fts.c.message_id)
                    )
                )
                .where(
                    literal_column("messages_fts").op("MATCH")(_fts_match(q)),
                    fts.c.tenant_id == tenant_id,
                    *conds,
                )
            )

        await self._session.plan_for_values()
        conn = await self._session.connection()
        return int(await conn.scalar(stmt) or 0)
