"""RAG sources: written with their message, found again by document (`messagesBySource`).

`Message.sources` is read from the denormalised copy on the message row (no extra query: the
row is read anyway); this table, indexed on (tenant_id, document_id, created_at, message_id),
answers the reverse question. Messages are immutable, so the two copies cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conversation_service.domain import validation as v
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


def source_cursor(message: MessageRecord) -> str:
    return encode_cursor("s", message.created_at.isoformat(), message.id)


def _parse_source_cursor(cursor: str) -> tuple[datetime, str]:
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
    uow: UnitOfWork, document_id: str, first: int | None = None, after: str | None = None
) -> SourcedMessages:
    """Messages that cited `document_id`, oldest first, keyset on (created_at, message id)."""
    v.text(document_id, "document_id")
    size = bounded(first, "first", 0, MAX_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size is None else size
    cursor = _parse_source_cursor(after) if after is not None else None
    rows, total = await uow.sources.by_document(document_id, size, cursor)
    return SourcedMessages(
        items=rows[:size], has_next=len(rows) > size, has_previous=after is not None, total=total
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
