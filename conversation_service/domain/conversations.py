"""Conversation rules: idempotent create, compare-and-set update, filtered lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conversation_service.domain import analysis, audit, tokens
from conversation_service.domain import validation as v
from conversation_service.domain.commands import (
    UNSET,
    ConversationChanges,
    ConversationQuery,
    NewConversation,
)
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import Conflict, NotFound, ValidationFailed, WriteConflict
from conversation_service.domain.events import ConversationChanged, ConversationCompleted
from conversation_service.domain.messages import append_message, validate_new_message
from conversation_service.domain.pagination import ConversationPage, parse_conversation_cursor
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord


def validate_new_conversation(new: NewConversation) -> NewConversation:
    if new.id is not None:
        new.id = v.uuid_id(new.id, "id")
    v.identifier(new.user_id, "user_id")
    v.identifier(new.agent_id, "agent_id")
    v.identifier(new.session_id, "session_id")
    v.optional_text(new.title, "title", v.MAX_TITLE_CHARS)
    new.tags = v.tags(new.tags)
    v.json_object(new.metadata, "metadata")
    new.participants = v.participants(new.participants)
    v.optional_json_object(new.customer_info, "customer_info")
    v.json_object(new.crm_references, "crm_references")
    if len(new.initial_messages) > 100:
        raise ValidationFailed(
            "initial_messages may hold at most 100 messages", field="initial_messages"
        )
    for i, m in enumerate(new.initial_messages):
        validate_new_message(m, prefix=f"initial_messages.{i}.")
    return new


async def create_conversation(
    uow: UnitOfWork, new: NewConversation
) -> tuple[ConversationRecord, bool]:
    """Create a conversation (with its initial messages); with a caller-chosen id an existing
    one is returned unchanged. Returns the record and whether it was created now.

    A concurrent create of the same id makes the insert a retryable WriteConflict: run again,
    it finds the winner's conversation (the same one)."""
    new = validate_new_conversation(new)
    for m in new.initial_messages:  # counted before the first statement, off the event loop
        if m.token_count is None:
            m.token_count = await tokens.count_async(m.content)
    if new.id is not None:
        existing = await uow.conversations.get(new.id)
        if existing is not None:
            return existing, False
    try:
        record = await uow.conversations.insert(new, new.id or str(uuid.uuid4()), uow.now())
        uow.audit(audit.CONVERSATION_CREATE, record.id)
        for m in new.initial_messages:
            _, record = await append_message(uow, record.id, m)
    except WriteConflict as exc:
        exc.retryable = new.id is not None
        raise
    uow.add_event(ConversationChanged(record))
    return record, True


def _validate_changes(changes: ConversationChanges) -> ConversationChanges:
    if changes.title is not UNSET:
        v.optional_text(changes.title, "title", v.MAX_TITLE_CHARS)  # type: ignore[arg-type]
    for name in ("user_id", "agent_id", "session_id"):
        value = getattr(changes, name)
        if value is not UNSET:
            v.identifier(value, name)
    if changes.tags is not UNSET:
        changes.tags = v.tags(changes.tags)  # type: ignore[arg-type]
    if changes.metadata is not UNSET:
        v.json_object(changes.metadata, "metadata")
    if changes.participants is not UNSET:
        changes.participants = v.participants(changes.participants)  # type: ignore[arg-type]
    if changes.customer_info is not UNSET:
        v.optional_json_object(changes.customer_info, "customer_info")
    if changes.crm_references is not UNSET:
        v.json_object(changes.crm_references, "crm_references")
    v.non_negative(changes.expected_version, "expected_version")
    return changes


_CHANGE_FIELDS = (
    "title",
    "status",
    "user_id",
    "agent_id",
    "session_id",
    "tags",
    "metadata",
    "participants",
    "customer_info",
    "crm_references",
)


async def update_conversation(
    uow: UnitOfWork, conversation_id: str, changes: ConversationChanges
) -> ConversationRecord:
    """Change the fields that are set (compare-and-set with `expected_version`). Setting the
    status to COMPLETED announces `ConversationCompleted` (the CRM auto-sync reacts in this
    transaction)."""
    conversation_id = v.uuid_id(conversation_id, "id")
    changes = _validate_changes(changes)
    values: dict[str, Any] = {}
    for name in _CHANGE_FIELDS:
        value = getattr(changes, name)
        if value is not UNSET:
            values[name] = value
    store = uow.conversations
    record = await store.update(conversation_id, values, changes.expected_version, uow.now())
    if record is None:
        found = await store.version_of(conversation_id)
        if found is None:
            raise NotFound(f"conversation {conversation_id} not found")
        raise Conflict(
            f"conversation version is {found}, expected {changes.expected_version}",
            field="expected_version",
        )
    if changes.tags is not UNSET:
        await store.replace_tags(conversation_id, values["tags"])
    uow.audit(audit.CONVERSATION_UPDATE, conversation_id)
    if changes.status is ConversationStatus.COMPLETED:
        uow.add_event(ConversationCompleted(record))
    uow.add_event(ConversationChanged(record))
    return record


async def get_conversation_or_none(
    uow: UnitOfWork, conversation_id: str
) -> ConversationRecord | None:
    return await uow.conversations.get(conversation_id)


async def get_conversation(uow: UnitOfWork, conversation_id: str) -> ConversationRecord:
    conversation_id = v.uuid_id(conversation_id, "id")
    record = await uow.conversations.get(conversation_id)
    if record is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return record


async def get_conversations_by_ids(
    uow: UnitOfWork, ids: list[str]
) -> dict[str, ConversationRecord]:
    """Batch read for DataLoaders: one query for any number of ids."""
    return await uow.conversations.get_many(ids)


def validate_query(q: ConversationQuery) -> ConversationQuery:
    v.identifier(q.user_id, "user_id")
    v.identifier(q.agent_id, "agent_id")
    v.identifier(q.session_id, "session_id")
    if q.tags is not None:
        q.tags = v.tags(q.tags)
    if q.any_tags is not None:
        q.any_tags = v.tags(q.any_tags, "any_tags")
    if q.from_date and q.to_date and q.from_date > q.to_date:
        raise ValidationFailed("from_date must not be after to_date", field="from_date")
    if q.metadata is not None:
        v.validate_metadata_filter(q.metadata)
    q.intent = analysis.intent(q.intent, "intent")
    return q


@dataclass(slots=True)
class ConversationSlice:
    items: list[ConversationRecord]
    has_next: bool
    has_previous: bool
    page: int | None
    page_size: int | None
    offset: int


async def list_conversations(
    uow: UnitOfWork, q: ConversationQuery, page: ConversationPage
) -> ConversationSlice:
    q = validate_query(q)
    page = page.validated()
    size = page.size
    offset = 0
    after = None
    if page.is_offset:
        offset = ((page.page or 1) - 1) * size
    elif page.after is not None:
        after = parse_conversation_cursor(page.after)
    rows = await uow.conversations.page(
        q, descending=page.descending, offset=offset, limit=size + 1, after=after
    )
    return ConversationSlice(
        items=rows[:size],
        has_next=len(rows) > size,
        has_previous=offset > 0 or page.after is not None,
        page=(page.page or 1) if page.is_offset else None,
        page_size=size if page.is_offset else None,
        offset=offset,
    )


async def count_conversations(uow: UnitOfWork, q: ConversationQuery) -> int:
    return await uow.conversations.count(validate_query(q))


async def conversations_updated_since(
    uow: UnitOfWork, since: datetime, ids: list[str] | None = None, limit: int = 1000
) -> list[ConversationRecord]:
    """Conversations changed at/after `since` (optionally among `ids`): subscriber resync."""
    return await uow.conversations.updated_since(since, ids, limit)
