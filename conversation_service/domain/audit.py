"""The audit trail: what every write recorded (`uow.audit(...)`), read back by admins.

Services record one entry per change with `uow.audit(action, target_id)`; the unit of work writes
them in the change's own transaction at commit (a rollback leaves none). Actions are named
`<aggregate>.<verb>`: the constants below are every action the service records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conversation_service.domain.commands import AuditQuery
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    bounded,
    decode_cursor,
    encode_cursor,
)
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import AuditRecord

CONVERSATION_CREATE = "conversation.create"
CONVERSATION_UPDATE = "conversation.update"
MESSAGE_ADD = "message.add"
STATE_SET = "state.set"
STATE_DELETE = "state.delete"
CRM_SYNC = "crm.sync"
#: who acted when the door named nobody (no credential under AUTH_MODE=none)
ANONYMOUS = "anonymous"


def state_target(conversation_id: str, key: str) -> str:
    """A state entry's target id: `<conversation id>/<key>`."""
    return f"{conversation_id}/{key}"


def audit_cursor(entry: AuditRecord) -> str:
    return encode_cursor("a", entry.at.isoformat(), entry.id)


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    kind, at, entry_id = decode_cursor(cursor, "after", 3)
    if kind != "a":
        raise ValidationFailed("after is not an auditLog cursor", field="after")
    try:
        return datetime.fromisoformat(at), entry_id
    except ValueError:
        raise ValidationFailed("after is not a valid cursor", field="after") from None


@dataclass(slots=True)
class AuditPage:
    items: list[AuditRecord]
    has_next: bool
    has_previous: bool


async def audit_log(
    uow: UnitOfWork, q: AuditQuery, first: int | None = None, after: str | None = None
) -> AuditPage:
    """The tenant's entries newest first, keyset on (at, id); at most 100 a page."""
    q = q.validated()
    size = bounded(first, "first", 0, MAX_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size is None else size
    cursor = _parse_cursor(after) if after is not None else None
    rows = await uow.audit_log.page(q, size + 1, cursor)
    return AuditPage(rows[:size], len(rows) > size, after is not None)
