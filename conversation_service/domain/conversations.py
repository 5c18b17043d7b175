"""Conversation rules: idempotent create, compare-and-set update, filtered lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain import tokens
from conversation_service.domain import validation as v
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import (
    UNSET,
    ConversationChanges,
    ConversationQuery,
    NewConversation,
)
from conversation_service.domain.errors import Conflict, NotFound, ValidationFailed
from conversation_service.domain.events import ConversationChanged
from conversation_service.domain.json_filter import metadata_contains, validate_metadata_filter
from conversation_service.domain.pagination import ConversationPage, parse_conversation_cursor
from conversation_service.domain.records import ConversationRecord
from conversation_service.models import conversation_tags, conversations

C = conversations.c


def validate_new_conversation(new: NewConversation) -> NewConversation:
    from conversation_service.domain.messages import validate_new_message

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
    db: Database, tenant_id: str, new: NewConversation, *, uow: UnitOfWork | None = None
) -> tuple[ConversationRecord, bool]:
    """Create a conversation; with a caller-chosen id an existing one is returned unchanged.

    Returns the record and whether it was created now. With `uow` it joins the caller's
    transaction (the caller commits).
    """
    new = validate_new_conversation(new)
    for m in new.initial_messages:  # counted before the transaction, off the event loop
        if m.token_count is None:
            m.token_count = await tokens.count_async(m.content)
    try:
        async with db.transaction(uow) as tx:
            if new.id is not None:
                existing = await _select_conversation(tx.conn, tenant_id, new.id)
                if existing is not None:
                    return existing, False
            record = await insert_conversation(tx, tenant_id, new)
            if new.initial_messages:
                from conversation_service.domain.messages import append_message

                for m in new.initial_messages:
                    _, record = await append_message(tx, tenant_id, record.id, m)
            tx.add_event(ConversationChanged(record))
        return record, True
    except IntegrityError:
        # A concurrent create of the same id won the race; it is the same conversation.
        if new.id is None or uow is not None:
            raise
        existing = await get_conversation_or_none(db, tenant_id, new.id)
        if existing is None:
            raise
        return existing, False


async def _select_conversation(
    conn: AsyncConnection, tenant_id: str, conversation_id: str
) -> ConversationRecord | None:
    row = (
        await conn.execute(
            select(conversations).where(C.tenant_id == tenant_id, C.id == conversation_id)
        )
    ).first()
    return ConversationRecord.from_row(row) if row is not None else None


_INSERT = insert(conversations).returning(*conversations.c)  # built once (hot path)


async def insert_conversation(
    uow: UnitOfWork, tenant_id: str, new: NewConversation
) -> ConversationRecord:
    """Insert inside an open unit of work (used by create and by create-on-first-use)."""
    now = utcnow()
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": new.id or str(uuid.uuid4()),
        "user_id": new.user_id,
        "agent_id": new.agent_id,
        "session_id": new.session_id,
        "title": new.title,
        "status": new.status.value,
        "tags": new.tags,
        "metadata": new.metadata,
        "participants": new.participants,
        "customer_info": new.customer_info,
        "crm_references": new.crm_references,
        "message_count": 0,
        "total_tokens": 0,
        "last_seq": 0,
        "last_message_at": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    row = (await uow.conn.execute(_INSERT, values)).one()
    if new.tags:
        await _write_tags(uow.conn, tenant_id, values["id"], new.tags)
    return ConversationRecord.from_row(row)


async def _write_tags(conn: AsyncConnection, tenant_id: str, cid: str, tags: list[str]) -> None:
    await conn.execute(
        insert(conversation_tags),
        [{"tenant_id": tenant_id, "conversation_id": cid, "tag": t} for t in tags],
    )


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
    db: Database,
    tenant_id: str,
    conversation_id: str,
    changes: ConversationChanges,
    *,
    uow: UnitOfWork | None = None,
) -> ConversationRecord:
    conversation_id = v.uuid_id(conversation_id, "id")
    changes = _validate_changes(changes)
    values: dict[str, Any] = {}
    for name in _CHANGE_FIELDS:
        value = getattr(changes, name)
        if value is not UNSET:
            values[name] = value.value if name == "status" else value
    async with db.transaction(uow) as tx:
        cond = and_(C.tenant_id == tenant_id, C.id == conversation_id)
        if changes.expected_version is not None:
            cond = and_(cond, C.version == changes.expected_version)
        stmt = (
            update(conversations)
            .where(cond)
            .values(**values, updated_at=utcnow(), version=C.version + 1)
            .returning(*conversations.c)
        )
        row = (await tx.conn.execute(stmt)).first()
        if row is None:
            found = await tx.conn.scalar(
                select(C.version).where(C.tenant_id == tenant_id, C.id == conversation_id)
            )
            if found is None:
                raise NotFound(f"conversation {conversation_id} not found")
            raise Conflict(
                f"conversation version is {found}, expected {changes.expected_version}",
                field="expected_version",
            )
        if changes.tags is not UNSET:
            await tx.conn.execute(
                delete(conversation_tags).where(
                    conversation_tags.c.tenant_id == tenant_id,
                    conversation_tags.c.conversation_id == conversation_id,
                )
            )
            if changes.tags:
                await _write_tags(tx.conn, tenant_id, conversation_id, values["tags"])
        record = ConversationRecord.from_row(row)
        if changes.status is not UNSET:
            from conversation_service.domain.crm_sync import sync_on_status_change

            await sync_on_status_change(db, tx, record)
        tx.add_event(ConversationChanged(record))
    return record


async def get_conversation_or_none(
    db: Database, tenant_id: str, conversation_id: str
) -> ConversationRecord | None:
    async with db.read() as conn:
        return await _select_conversation(conn, tenant_id, conversation_id)


async def get_conversation(
    db: Database, tenant_id: str, conversation_id: str
) -> ConversationRecord:
    conversation_id = v.uuid_id(conversation_id, "id")
    record = await get_conversation_or_none(db, tenant_id, conversation_id)
    if record is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return record


async def get_conversations_by_ids(
    db: Database, tenant_id: str, ids: list[str]
) -> dict[str, ConversationRecord]:
    """Batch read for DataLoaders: one query for any number of ids."""
    if not ids:
        return {}
    async with db.read() as conn:
        rows = (
            await conn.execute(select(conversations).where(C.tenant_id == tenant_id, C.id.in_(ids)))
        ).all()
    return {r.id: ConversationRecord.from_row(r) for r in rows}


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
        validate_metadata_filter(q.metadata)
    return q


def _filter_conditions(
    tenant_id: str, q: ConversationQuery, dialect: str
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [C.tenant_id == tenant_id]
    if q.user_id is not None:
        conds.append(C.user_id == q.user_id)
    if q.agent_id is not None:
        conds.append(C.agent_id == q.agent_id)
    if q.session_id is not None:
        conds.append(C.session_id == q.session_id)
    if q.status is not None:
        conds.append(C.status == q.status.value)
    if q.from_date is not None:
        conds.append(C.created_at >= q.from_date)
    if q.to_date is not None:
        conds.append(C.created_at <= q.to_date)
    if q.metadata:
        conds.append(metadata_contains(C.metadata, q.metadata, dialect))
    T = conversation_tags.c
    if q.tags:
        matching = (
            select(T.conversation_id)
            .where(T.tenant_id == tenant_id, T.tag.in_(q.tags))
            .group_by(T.conversation_id)
            .having(func.count() == len(q.tags))
        )
        conds.append(C.id.in_(matching))
    if q.any_tags:
        conds.append(
            exists().where(
                T.tenant_id == tenant_id, T.conversation_id == C.id, T.tag.in_(q.any_tags)
            )
        )
    return conds


@dataclass(slots=True)
class ConversationSlice:
    items: list[ConversationRecord]
    has_next: bool
    has_previous: bool
    page: int | None
    page_size: int | None
    offset: int


async def list_conversations(
    db: Database, tenant_id: str, q: ConversationQuery, page: ConversationPage
) -> ConversationSlice:
    q = validate_query(q)
    page = page.validated()
    conds = _filter_conditions(tenant_id, q, db.dialect)
    order = (
        (C.created_at.desc(), C.id.desc()) if page.descending else (C.created_at.asc(), C.id.asc())
    )
    size = page.size
    stmt = select(conversations)
    offset = 0
    if page.is_offset:
        number = page.page or 1
        offset = (number - 1) * size
        stmt = stmt.where(*conds).order_by(*order).offset(offset).limit(size + 1)
    else:
        if page.after is not None:
            ts, cid = parse_conversation_cursor(page.after)
            if page.descending:
                conds.append(or_(C.created_at < ts, and_(C.created_at == ts, C.id < cid)))
            else:
                conds.append(or_(C.created_at > ts, and_(C.created_at == ts, C.id > cid)))
        stmt = stmt.where(*conds).order_by(*order).limit(size + 1)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    items = [ConversationRecord.from_row(r) for r in rows[:size]]
    return ConversationSlice(
        items=items,
        has_next=len(rows) > size,
        has_previous=offset > 0 or page.after is not None,
        page=(page.page or 1) if page.is_offset else None,
        page_size=size if page.is_offset else None,
        offset=offset,
    )


async def count_conversations(db: Database, tenant_id: str, q: ConversationQuery) -> int:
    q = validate_query(q)
    conds = _filter_conditions(tenant_id, q, db.dialect)
    stmt = select(func.count()).select_from(conversations).where(*conds)
    async with db.read() as conn:
        return int(await conn.scalar(stmt) or 0)


async def conversations_updated_since(
    db: Database, tenant_id: str, since: datetime, ids: list[str] | None = None, limit: int = 1000
) -> list[ConversationRecord]:
    """Conversations changed at/after `since` (optionally among `ids`): subscriber resync."""
    conds = [C.tenant_id == tenant_id, C.updated_at >= since]
    if ids is not None:
        conds.append(C.id.in_(ids))
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(conversations).where(*conds).order_by(C.updated_at).limit(limit)
            )
        ).all()
    return [ConversationRecord.from_row(r) for r in rows]
