"""Per-conversation state: versioned entries, compare-and-set, expiry, delete by null.

A deleted or expired entry keeps its row as a tombstone (expires_at in the past), so versions
keep rising across delete and re-create and a stale `expected_version` can never match again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.domain import validation as v
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import StateWrite
from conversation_service.domain.errors import Conflict, NotFound
from conversation_service.domain.events import StateChanged
from conversation_service.domain.records import StateRecord
from conversation_service.models import conversation_state, conversations

S = conversation_state.c
C = conversations.c


def validate_state_write(w: StateWrite) -> StateWrite:
    w.key = v.text(w.key, "key", v.MAX_STATE_KEY_CHARS)
    if w.value is not None:
        v.json_document(w.value, "value")
    v.positive(w.ttl_seconds, "ttl_seconds", v.MAX_TTL_SECONDS)
    v.non_negative(w.expected_version, "expected_version")
    return w


def _live(now: datetime) -> Any:
    return or_(S.expires_at.is_(None), S.expires_at > now)


async def write_state(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    w: StateWrite,
    *,
    uow: UnitOfWork | None = None,
) -> StateRecord:
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    w = validate_state_write(w)
    for attempt in range(3):
        try:
            return await _write_once(db, tenant_id, conversation_id, w, uow)
        except IntegrityError:
            # Two first writes of one key raced; the loser retries and now sees the row.
            if attempt == 2 or uow is not None:
                raise
    raise AssertionError("unreachable")


async def _write_once(
    db: Database, tenant_id: str, conversation_id: str, w: StateWrite, uow: UnitOfWork | None
) -> StateRecord:
    async with db.transaction(uow) as tx:
        conn = tx.conn
        exists = await conn.scalar(
            select(C.id).where(C.tenant_id == tenant_id, C.id == conversation_id)
        )
        if exists is None:
            raise NotFound(f"conversation {conversation_id} not found")
        now = utcnow()
        key_cond = and_(
            S.tenant_id == tenant_id, S.conversation_id == conversation_id, S.key == w.key
        )
        select_row = select(conversation_state).where(key_cond)
        if tx.dialect == "postgresql":
            select_row = select_row.with_for_update()
        row = (await conn.execute(select_row)).first()
        live = row is not None and (row.expires_at is None or row.expires_at > now)
        current_version = row.version if (row is not None and live) else 0
        if w.expected_version is not None and w.expected_version != current_version:
            raise Conflict(
                f"state {w.key!r} is at version {current_version}, expected {w.expected_version}",
                field="expected_version",
            )
        stored_version = row.version if row is not None else 0
        if w.value is None:
            if not live:
                # Deleting what is not there: nothing changes, nothing is published.
                return StateRecord(
                    tenant_id, conversation_id, w.key, None, w.state_type, stored_version, None, now
                )
            values: dict[str, Any] = {
                "value": None,
                "version": stored_version + 1,
                "expires_at": now,
                "updated_at": now,
            }
        else:
            values = {
                "value": w.value,
                "state_type": w.state_type.value,
                "version": stored_version + 1,
                "expires_at": now + timedelta(seconds=w.ttl_seconds) if w.ttl_seconds else None,
                "updated_at": now,
            }
        if row is None:
            stmt: Any = insert(conversation_state).values(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                key=w.key,
                created_at=now,
                **values,
            )
        else:
            stmt = update(conversation_state).where(key_cond).values(**values)
        result = (await conn.execute(stmt.returning(*conversation_state.c))).one()
        record = StateRecord.from_row(result)
        if w.value is None:
            record.expires_at = None
        tx.add_event(StateChanged(record))
    return record


async def get_state(
    db: Database, tenant_id: str, conversation_id: str, key: str
) -> StateRecord | None:
    """One round trip: the conversation (for NOT_FOUND) joined with the live entry, if any."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    v.text(key, "state_key", v.MAX_STATE_KEY_CHARS)
    now = utcnow()
    stmt = (
        select(C.id.label("cid"), conversation_state)
        .select_from(conversations)
        .outerjoin(
            conversation_state,
            and_(
                S.tenant_id == C.tenant_id,
                S.conversation_id == C.id,
                S.key == key,
                _live(now),
            ),
        )
        .where(C.tenant_id == tenant_id, C.id == conversation_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    if row.key is None:
        return None
    return StateRecord.from_row(row)


async def state_for_conversations(
    db: Database, tenant_id: str, conversation_ids: list[str]
) -> dict[str, list[StateRecord]]:
    """Live entries of several conversations in one query (DataLoader batch)."""
    out: dict[str, list[StateRecord]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return out
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(conversation_state)
                .where(
                    S.tenant_id == tenant_id,
                    S.conversation_id.in_(conversation_ids),
                    _live(utcnow()),
                )
                .order_by(S.conversation_id, S.key)
            )
        ).all()
    for r in rows:
        out[r.conversation_id].append(StateRecord.from_row(r))
    return out


async def state_versions(
    db: Database, tenant_id: str, conversation_id: str, key: str | None = None
) -> list[StateRecord]:
    """Every entry of a conversation as a subscriber should know it now: live entries, and
    deleted ones (tombstones) as value null. Entries that merely expired are left out."""
    now = utcnow()
    conds = [S.tenant_id == tenant_id, S.conversation_id == conversation_id]
    if key is not None:
        conds.append(S.key == key)
    async with db.read() as conn:
        rows = (await conn.execute(select(conversation_state).where(*conds).order_by(S.key))).all()
    out: list[StateRecord] = []
    for r in rows:
        record = StateRecord.from_row(r)
        expired = record.expires_at is not None and record.expires_at <= now
        if expired and record.value is not None:
            continue
        if expired:
            record.expires_at = None
        out.append(record)
    return out
