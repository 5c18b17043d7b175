"""RAG sources: written with their message, found again by document (`messagesBySource`).

`Message.sources` is read from the denormalised copy on the message row (no extra query: the
row is read anyway); this table, indexed on (tenant_id, document_id, created_at, message_id),
answers the reverse question. Messages are immutable, so the two copies cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select

from conversation_service.adapters.database import Database, UnitOfWork
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
from conversation_service.models import message_sources, messages

S = message_sources.c
M = messages.c


async def write_sources(uow: UnitOfWork, message: MessageRecord) -> None:
    """Insert the message's sources in the caller's transaction (one multi-row insert)."""
    if not message.sources:
        return
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": message.tenant_id,
            "message_id": message.id,
            "position": i,
            "conversation_id": message.conversation_id,
            "document_id": s["document_id"],
            "title": s.get("title"),
            "url": s.get("url"),
            "snippet": s.get("snippet"),
            "score": s.get("score"),
            "metadata": s.get("metadata") or {},
            "created_at": message.created_at,
        }
        for i, s in enumerate(message.sources)
    ]
    await uow.conn.execute(insert(message_sources), rows)


def source_cursor(message: MessageRecord) -> str:
    return encode_cursor("s", message.created_at.isoformat(), message.id)


def _parse_source_cursor(cursor: str) -> tuple[Any, str]:
    from datetime import datetime

    kind, ts, mid = decode_cursor(cursor, "after", 3)
    if kind != "s":
        raise ValidationFailed("after is not a messagesBySource cursor", field="after")
    try:
        return datetime.fromisoformat(ts), mid
    except ValueError:
        raise ValidationFailed("after is not a valid cursor", field="after") from None


@dataclass(slots=True)
class SourcedMessages:
    items: list[MessageRecord]
    has_next: bool
    has_previous: bool
    total: int


async def messages_by_source(
    db: Database,
    tenant_id: str,
    document_id: str,
    first: int | None = None,
    after: str | None = None,
) -> SourcedMessages:
    """Messages that cited `document_id`, oldest first, keyset on (created_at, message id)."""
    v.text(document_id, "document_id")
    size = bounded(first, "first", 0, MAX_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size is None else size
    conds = [S.tenant_id == tenant_id, S.document_id == document_id]
    if after is not None:
        ts, mid = _parse_source_cursor(after)
        conds.append(or_(S.created_at > ts, and_(S.created_at == ts, S.message_id > mid)))
    keys = (
        select(S.created_at, S.message_id)
        .where(*conds)
        .group_by(S.created_at, S.message_id)  # a message citing a document twice counts once
        .order_by(S.created_at, S.message_id)
        .limit(size + 1)
        .subquery()
    )
    stmt = (
        select(messages)
        .join(keys, and_(M.tenant_id == tenant_id, M.id == keys.c.message_id))
        .order_by(keys.c.created_at, keys.c.message_id)
    )
    count = select(func.count(func.distinct(S.message_id))).where(
        S.tenant_id == tenant_id, S.document_id == document_id
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
        total = int(await conn.scalar(count) or 0)
    items = [MessageRecord.from_row(r) for r in rows[:size]]
    return SourcedMessages(
        items=items, has_next=len(rows) > size, has_previous=after is not None, total=total
    )


def validate_source(s: Any, field: str) -> None:
    """A source is `{document_id, title?, url?, snippet?, score?, metadata?}`."""
    for name in ("title", "url", "snippet"):
        if s.get(name) is not None and not isinstance(s[name], str):
            raise ValidationFailed(f"{field}.{name} must be a string", field=f"{field}.{name}")
    score = s.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise ValidationFailed(f"{field}.score must be a number", field=f"{field}.score")
    v.finite(score, f"{field}.score")
    if s.get("metadata") is not None:
        v.json_object(s["metadata"], f"{field}.metadata")
    if len(s["document_id"]) > v.MAX_ID_CHARS:
        raise ValidationFailed(
            f"{field}.document_id must be at most {v.MAX_ID_CHARS} characters",
            field=f"{field}.document_id",
        )
