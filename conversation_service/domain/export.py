"""Export of stored data: a subject's conversations, messages and state (right of access), and
archived conversations for cold storage. Both stream from server-side cursors, so memory
stays flat however much the selection holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conversation_service.domain import validation as v
from conversation_service.domain.commands import KINDS, Kind, Selection
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord


def subject(user_id: str | None, customer_email: str | None) -> Selection:
    """A data subject: exactly one of a user id or a customer e-mail."""
    if (user_id is None) == (customer_email is None):
        raise ValidationFailed("give either user_id or customer_email", field="user_id")
    v.identifier(user_id, "user_id")
    if customer_email is not None:
        v.identifier(customer_email, "customer_email")
        if "@" not in customer_email:
            raise ValidationFailed(
                "customer_email must be an e-mail address", field="customer_email"
            )
    return Selection(user_id=user_id, customer_email=customer_email)


async def begin_subject_export(uow: UnitOfWork, sel: Selection) -> None:
    """Record the export in the audit log (committed before the first line is sent)."""
    uow.audit("subject.export", sel.label)


async def subject_records(
    uow: UnitOfWork, sel: Selection
) -> AsyncIterator[tuple[Kind, ConversationRecord | MessageRecord | StateRecord]]:
    """Every conversation, message and state entry of the subject, as records, one cursor at a
    time (conversations, then messages by conversation and seq, then state entries)."""
    batch = uow.settings.export_batch_rows
    async for row in uow.exports.stream_rows("conversation", sel, batch):
        yield "conversation", ConversationRecord.from_mapping(row)
    async for row in uow.exports.stream_rows("message", sel, batch):
        yield "message", MessageRecord.from_mapping(row)
    async for row in uow.exports.stream_rows("state", sel, batch):
        yield "state", StateRecord.from_mapping(row)


async def archived_rows(
    uow: UnitOfWork, before: datetime
) -> AsyncIterator[tuple[Kind, dict[str, Any]]]:
    """The stored rows (every column) of the tenant's ARCHIVED conversations last active
    before `before`, and of their messages and state entries: what an archive file holds."""
    sel = Selection(archived_before=before)
    batch = uow.settings.export_batch_rows
    for kind in KINDS:
        async for row in uow.exports.stream_rows(kind, sel, batch):
            yield kind, {str(k): value for k, value in row.items()}  # plain str keys


@dataclass(slots=True)
class ImportCounts:
    conversations: int = 0
    messages: int = 0
    state: int = 0
    skipped_conversations: int = 0


async def import_rows(
    uow: UnitOfWork,
    kind: Kind,
    rows: list[dict[str, Any]],
    fresh: set[str],
    counts: ImportCounts,
) -> None:
    """Re-import archived rows, idempotently: a conversation that is already stored is left as
    it is (and so are its messages and state, which `fresh` then leaves out), so a second
    import of the same file changes nothing. `fresh` collects the conversations this import
    created; messages are written with their RAG sources (search indexes follow the rows)."""
    if kind == "conversation":
        created = await uow.exports.insert_absent("conversation", rows)
        fresh.update(created)
        counts.conversations += len(created)
        counts.skipped_conversations += len(rows) - len(created)
        return
    wanted = [r for r in rows if r["conversation_id"] in fresh]
    if not wanted:
        return
    returned = await uow.exports.insert_absent(kind, wanted)
    inserted = set(returned)
    if kind == "message":
        counts.messages += len(inserted)
        for r in wanted:
            if r["id"] in inserted:
                await uow.sources.write(MessageRecord.from_mapping(r))
    else:
        counts.state += len(returned)
