"""Live feeds for subscribers: exactly once, in order, resumable, whatever the broker did.

Pub/sub is at-most-once and unordered across publishers, so the broadcast is only a hint that
something committed; the database is the truth. A message feed tracks the last seq it yielded
per conversation and, seeing a later seq, first yields the missing ones from the database; it
drops what it has already yielded. After a broker reconnect (RESYNC) or a mailbox overflow it
catches up from the database before taking live events again. Conversation and state feeds
are "latest version wins": they never yield an older version after a newer one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from conversation_service.adapters.broadcast import RESYNC, Overflowed, Subscriber
from conversation_service.adapters.events import channel
from conversation_service.domain.clock import utcnow
from conversation_service.domain.conversations import (
    conversations_updated_since,
    get_conversation,
)
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.messages import messages_between, recent_messages
from conversation_service.domain.ports import UnitOfWorkFactory
from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord
from conversation_service.domain.state import state_versions
from conversation_service.domain.validation import identifier, uuid_id

#: How far back a tenant-wide feed looks for messages of a conversation it sees for the first
#: time: publishes of one conversation can overtake each other by a few milliseconds.
IN_FLIGHT_MARGIN = timedelta(seconds=2)
#: A tenant-wide feed forgets conversations idle this long once it tracks too many.
TRACK_IDLE_S = 30.0
TRACK_MAX = 10_000


class Broadcast(Protocol):
    def subscribe(self, channel: str) -> Any: ...


class _Positions:
    """Last yielded position per conversation, bounded for tenant-wide feeds."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.touched: dict[str, float] = {}

    def get(self, cid: str) -> int | None:
        return self.last.get(cid)

    def set(self, cid: str, value: int) -> None:
        self.last[cid] = value
        self.touched[cid] = time.monotonic()
        if len(self.last) > TRACK_MAX:
            cutoff = time.monotonic() - TRACK_IDLE_S
            for key in [k for k, t in self.touched.items() if t < cutoff]:
                del self.last[key]
                del self.touched[key]


async def _next(sub: Subscriber) -> Any:
    """The next broadcast item, "resync" when the feed must catch up, "closed" at shutdown."""
    try:
        item = await sub.get()
    except Overflowed:
        return "resync"
    except EOFError:
        return "closed"
    if item is RESYNC:
        return "resync"
    return item


async def message_feed(
    db: UnitOfWorkFactory,
    broadcast: Broadcast,
    tenant_id: str,
    *,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    user_id: str | None = None,
    after_seq: int | None = None,
    resume: dict[str, int] | None = None,
    resume_since: datetime | None = None,
) -> AsyncIterator[MessageRecord]:
    """Messages of a tenant matching the filter, once each and in seq order per conversation.

    `after_seq` (with `conversation_id`) first replays stored messages after it. `resume`
    (positions per conversation) and `resume_since` continue a feed that fell behind.
    """
    if conversation_id is not None:
        conversation_id = uuid_id(conversation_id, "conversation_id")
    elif after_seq is not None:
        raise ValidationFailed("afterSeq needs a conversationId", field="after_seq")
    identifier(agent_id, "agent_id")
    identifier(user_id, "user_id")
    if after_seq is not None and after_seq < 0:
        raise ValidationFailed("afterSeq must be >= 0", field="after_seq")
    positions = _Positions()

    def wanted(conv_agent: str | None, conv_user: str | None) -> bool:
        return (agent_id is None or conv_agent == agent_id) and (
            user_id is None or conv_user == user_id
        )

    async def fill(cid: str, after: int, before: int | None = None) -> AsyncIterator[MessageRecord]:
        while True:
            batch = await db.query(
                tenant_id, messages_between, cid, after_seq=after, before_seq=before
            )
            for m in batch:
                positions.set(cid, m.seq)
                yield m
            if len(batch) < 1000:
                return
            after = batch[-1].seq

    async with broadcast.subscribe(channel(tenant_id, "message_added", conversation_id)) as sub:
        started = utcnow()
        synced_at = resume_since or started
        if conversation_id is not None:
            conv = await db.query(tenant_id, get_conversation, conversation_id)
            base = after_seq if after_seq is not None else conv.last_seq
            if resume and conversation_id in resume:
                base = resume[conversation_id]
            positions.set(conversation_id, base)
            if base < conv.last_seq and wanted(conv.agent_id, conv.user_id):
                async for m in fill(conversation_id, base):
                    yield m
        elif resume:
            for cid, seq in resume.items():
                positions.set(cid, seq)
        sub.ready = True
        catch_up = resume is not None and conversation_id is None
        while True:
            if catch_up:
                catch_up = False
                for cid, seen in list(positions.last.items()):
                    async for m in fill(cid, seen):
                        yield m
                if conversation_id is None:
                    since = synced_at - IN_FLIGHT_MARGIN
                    synced_at = utcnow()
                    while True:
                        rows = await db.query(
                            tenant_id, recent_messages, since, agent_id=agent_id, user_id=user_id
                        )
                        for m, _, _ in rows:
                            known = positions.get(m.conversation_id)
                            if known is None or m.seq == known + 1:
                                positions.set(m.conversation_id, m.seq)
                                yield m
                            elif m.seq > known + 1:
                                async for filled in fill(m.conversation_id, known, m.seq + 1):
                                    yield filled
                        if len(rows) < 1000:
                            break
                        since = rows[-1][0].created_at
                continue
            item = await _next(sub)
            if item == "closed":
                return
            if item == "resync":
                catch_up = True
                continue
            data = item["data"]
            if not wanted(data.get("agent_id"), data.get("user_id")):
                continue
            m = MessageRecord.from_dict(data["message"])
            cid = m.conversation_id
            last = positions.get(cid)
            if last is None:
                # First sight of this conversation: an earlier message of it may still be in
                # flight; take it from the database (never anything older than the feed).
                since = max(started, m.created_at - IN_FLIGHT_MARGIN)
                earlier = await db.query(
                    tenant_id, messages_between, cid, after_seq=0, before_seq=m.seq, since=since
                )
                last = m.seq - 1
                for e in earlier:
                    yield e
                positions.set(cid, last)
            if m.seq <= last:
                continue
            if m.seq > last + 1:
                async for filled in fill(cid, last, m.seq):
                    yield filled
            positions.set(cid, m.seq)
            yield m


async def conversation_feed(
    db: UnitOfWorkFactory,
    broadcast: Broadcast,
    tenant_id: str,
    *,
    conversation_id: str | None = None,
    resume: dict[str, int] | None = None,
    resume_since: datetime | None = None,
) -> AsyncIterator[ConversationRecord]:
    """Changes of one conversation (or all of the tenant's), newest version wins."""
    if conversation_id is not None:
        conversation_id = uuid_id(conversation_id, "conversation_id")
    versions: dict[str, int] = dict(resume or {})
    async with broadcast.subscribe(
        channel(tenant_id, "conversation_changed", conversation_id)
    ) as sub:
        synced_at = resume_since or utcnow()
        if conversation_id is not None:
            conv = await db.query(tenant_id, get_conversation, conversation_id)
            versions.setdefault(conv.id, conv.version)
        sub.ready = True
        pending_resync = resume_since is not None
        while True:
            item: Any = "resync" if pending_resync else await _next(sub)
            pending_resync = False
            if item == "closed":
                return
            if item == "resync":
                ids = [conversation_id] if conversation_id is not None else None
                since = synced_at - IN_FLIGHT_MARGIN
                synced_at = utcnow()
                for record in await db.query(tenant_id, conversations_updated_since, since, ids):
                    if record.version > versions.get(record.id, 0):
                        versions[record.id] = record.version
                        yield record
                continue
            record = ConversationRecord.from_dict(item["data"])
            if record.version <= versions.get(record.id, 0):
                continue
            versions[record.id] = record.version
            if len(versions) > TRACK_MAX:
                versions.clear()
                versions[record.id] = record.version
            yield record


async def state_feed(
    db: UnitOfWorkFactory,
    broadcast: Broadcast,
    tenant_id: str,
    *,
    conversation_id: str,
    key: str | None = None,
    resume: dict[str, int] | None = None,
) -> AsyncIterator[StateRecord]:
    """Changes of a conversation's state (one key or all); deletes arrive with value null."""
    conversation_id = uuid_id(conversation_id, "conversation_id")
    versions: dict[str, int] = dict(resume or {})
    async with broadcast.subscribe(channel(tenant_id, "state_changed", conversation_id)) as sub:
        await db.query(tenant_id, get_conversation, conversation_id)
        if resume is None:
            for record in await db.query(tenant_id, state_versions, conversation_id, key):
                versions[record.key] = record.version
        sub.ready = True
        pending_resync = resume is not None
        while True:
            item: Any = "resync" if pending_resync else await _next(sub)
            pending_resync = False
            if item == "closed":
                return
            if item == "resync":
                for record in await db.query(tenant_id, state_versions, conversation_id, key):
                    if record.version > versions.get(record.key, 0):
                        versions[record.key] = record.version
                        yield record
                continue
            record = StateRecord.from_dict(item["data"])
            if key is not None and record.key != key:
                continue
            if record.version <= versions.get(record.key, 0):
                continue
            versions[record.key] = record.version
            yield record
