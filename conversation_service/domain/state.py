"""Per-conversation state: versioned entries, compare-and-set, expiry, delete by null.

A deleted or expired entry keeps its row as a tombstone (expires_at in the past), so versions
keep rising across delete and re-create and a stale `expected_version` can never match again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conversation_service.domain import audit
from conversation_service.domain import validation as v
from conversation_service.domain.commands import StateWrite
from conversation_service.domain.errors import Conflict, NotFound
from conversation_service.domain.events import StateChanged
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import StateRecord


def validate_state_write(w: StateWrite) -> StateWrite:
    w.key = v.text(w.key, "key", v.MAX_STATE_KEY_CHARS)
    if w.value is not None:
        v.json_document(w.value, "value")
    v.positive(w.ttl_seconds, "ttl_seconds", v.MAX_TTL_SECONDS)
    v.non_negative(w.expected_version, "expected_version")
    return w


async def write_state(uow: UnitOfWork, conversation_id: str, w: StateWrite) -> StateRecord:
    """Set, delete (value None) or compare-and-set one entry. Two first writes of one key that
    race make the loser a retryable WriteConflict: run again, it sees the winner's row."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    w = validate_state_write(w)
    if not await uow.conversations.exists(conversation_id):
        raise NotFound(f"conversation {conversation_id} not found")
    now = uow.now()
    row = await uow.state.entry_for_update(conversation_id, w.key)
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
                uow.tenant_id, conversation_id, w.key, None, w.state_type, stored_version, None,
                now,
            )  # fmt: skip
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
        record = await uow.state.insert(conversation_id, w.key, values, now)
    else:
        record = await uow.state.update(conversation_id, w.key, values)
    if w.value is None:
        record.expires_at = None
    uow.audit(audit.STATE_SET if w.value is not None else audit.STATE_DELETE,
              audit.state_target(conversation_id, w.key))  # fmt: skip
    uow.add_event(StateChanged(record))
    return record


async def get_state(uow: UnitOfWork, conversation_id: str, key: str) -> StateRecord | None:
    """One round trip: the conversation (for NOT_FOUND) joined with the live entry, if any."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    v.text(key, "state_key", v.MAX_STATE_KEY_CHARS)
    exists, record = await uow.state.live_entry(conversation_id, key, uow.now())
    if not exists:
        raise NotFound(f"conversation {conversation_id} not found")
    return record


async def state_for_conversations(
    uow: UnitOfWork, conversation_ids: list[str]
) -> dict[str, list[StateRecord]]:
    """Live entries of several conversations in one query (DataLoader batch)."""
    return await uow.state.live_for(conversation_ids, uow.now())


async def state_versions(
    uow: UnitOfWork, conversation_id: str, key: str | None = None
) -> list[StateRecord]:
    """Every entry of a conversation as a subscriber should know it now: live entries, and
    deleted ones (tombstones) as value null. Entries that merely expired are left out."""
    now = uow.now()
    out: list[StateRecord] = []
    for record in await uow.state.entries(conversation_id, key):
        expired = record.expires_at is not None and record.expires_at <= now
        if expired and record.value is not None:
            continue
        if expired:
            record.expires_at = None
        out.append(record)
    return out
