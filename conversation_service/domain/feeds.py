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
from conversation_service.domain.messages import (
    annotated_since,
    messages_between,
    recent_messages,
)
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
#: A feed filling a gap reads pages of about this much content (between the bounds below).
FILL_PAGE_BYTES = 1_048_576
FILL_PAGE_MIN = 8
FILL_PAGE_FIRST = 32
FILL_PAGE_MAX = 1000
RECENT_PAGE = 1000


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


def _footprint(text: str) -> int:
    """Bytes a string holds in memory, at most (CPython stores up to 4 bytes a character)."""
    return len(text) if text.isascii() else 4 * len(text)


class _MessageSource:
    """Everything a message feed reads from the database, in one place."""

    def __init__(self, db: UnitOfWorkFactory, tenant_id: str) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.page = FILL_PAGE_FIRST

    async def conversation(self, conversation_id: str) -> ConversationRecord:
        return await self.db.query(self.tenant_id, get_conversation, conversation_id)

    async def between(
        self, cid: str, after: int, before: int | None = None, since: datetime | None = None
    ) -> list[MessageRecord]:
        """One page of stored messages with after < seq < before, sized to FILL_PAGE_BYTES."""
        batch = await self.db.query(
            self.tenant_id,
            messages_between,
            cid,
            after_seq=after,
            before_seq=before,
            since=since,
            limit=self.page,
        )
        self._resize(batch)
        return batch

    async def recent(
        self, since: datetime, agent_id: str | None, user_id: str | None
    ) -> list[MessageRecord]:
        """One page (RECENT_PAGE) of the tenant's messages created at/after `since`. Not sized
        by content: pages follow created_at, and a smaller page could end among messages of
        one instant and never move on."""
        rows = await self.db.query(
            self.tenant_id,
            recent_messages,
            since,
            agent_id=agent_id,
            user_id=user_id,
            limit=RECENT_PAGE,
        )
        return [m for m, _, _ in rows]

    def _resize(self, batch: list[MessageRecord]) -> None:
        """The next page holds about FILL_PAGE_BYTES of content: a subscriber that is behind
        (or never reads) holds one page, whatever the size of the messages."""
        if batch:
            size = sum(_footprint(m.content) for m in batch) // len(batch) + 256
            self.page = max(FILL_PAGE_MIN, min(FILL_PAGE_MAX, FILL_PAGE_BYTES // size))

    def full(self, batch: list[MessageRecord], asked: int) -> bool:
        return len(batch) >= asked


class _MessageFeed:
    """One subscriber's message feed: its filter, its positions and the steps it takes
    (replay, live, gap fill, resync); `message_feed` below strings them together."""

    def __init__(
        self,
        source: _MessageSource,
        conversation_id: str | None,
        agent_id: str | None,
        user_id: str | None,
        resume_since: datetime | None,
    ) -> None:
        self.source = source
        self.conversation_id = conversation_id
        self.agent_id = agent_id
        self.user_id = user_id
        self.positions = _Positions()
        self.started = utcnow()
        self.synced_at = resume_since or self.started

    def wanted(self, conv_agent: str | None, conv_user: str | None) -> bool:
        return (self.agent_id is None or conv_agent == self.agent_id) and (
            self.user_id is None or conv_user == self.user_id
        )

    async def replay(
        self, after_seq: int | None, resume: dict[str, int] | None
    ) -> AsyncIterator[MessageRecord]:
        """Where the feed starts: one conversation replays what is stored after its starting
        seq (`afterSeq`, a resumed position, else its last seq); a tenant-wide feed takes the
        resumed positions."""
        cid = self.conversation_id
        if cid is None:
            for known, seq in (resume or {}).items():
                self.positions.set(known, seq)
            return
        conv = await self.source.conversation(cid)
        base = after_seq if after_seq is not None else conv.last_seq
        if resume and cid in resume:
            base = resume[cid]
        self.positions.set(cid, base)
        if base < conv.last_seq and self.wanted(conv.agent_id, conv.user_id):
            async for m in self.fill(cid, base):
                yield m

    async def fill(
        self, cid: str, after: int, before: int | None = None
    ) -> AsyncIterator[MessageRecord]:
        """Gap fill: every stored message of `cid` with after < seq < before, page by page."""
        while True:
            asked = self.source.page
            batch = await self.source.between(cid, after, before)
            for m in batch:
                self.positions.set(cid, m.seq)
                yield m
            if not self.source.full(batch, asked):
                return
            after = batch[-1].seq

    async def resync(self) -> AsyncIterator[MessageRecord]:
        """After a broker reconnect or a mailbox overflow: fill every known conversation, and a
        tenant-wide feed scans what was created since it was last in sync."""
        for cid, seen in list(self.positions.last.items()):
            async for m in self.fill(cid, seen):
                yield m
        if self.conversation_id is not None:
            return
        since = self.synced_at - IN_FLIGHT_MARGIN
        self.synced_at = utcnow()
        while True:
            asked = RECENT_PAGE
            batch = await self.source.recent(since, self.agent_id, self.user_id)
            for m in batch:
                known = self.positions.get(m.conversation_id)
                if known is None or m.seq == known + 1:
                    self.positions.set(m.conversation_id, m.seq)
                    yield m
                elif m.seq > known + 1:
                    async for filled in self.fill(m.conversation_id, known, m.seq + 1):
                        yield filled
            if not self.source.full(batch, asked):
                return
            since = batch[-1].created_at

    async def live(self, item: dict[str, Any]) -> AsyncIterator[MessageRecord]:
        """One broadcast event: dropped when already yielded or filtered out; a gap before it is
        filled from the database first."""
        data = item["data"]
        if not self.wanted(data.get("agent_id"), data.get("user_id")):
            return
        m = MessageRecord.from_dict(data["message"])
        cid = m.conversation_id
        last = self.positions.get(cid)
        if last is None:
            async for earlier in self.first_sight(m):
                yield earlier
            last = m.seq - 1
            self.positions.set(cid, last)
        if m.seq <= last:
            return
        if m.seq > last + 1:
            async for filled in self.fill(cid, last, m.seq):
                yield filled
        self.positions.set(cid, m.seq)
        yield m

    async def first_sight(self, m: MessageRecord) -> AsyncIterator[MessageRecord]:
        """A conversation seen for the first time: an earlier message of it may still be in
        flight; take it from the database (never anything older than the feed)."""
        since = max(self.started, m.created_at - IN_FLIGHT_MARGIN)
        after = 0
        while True:
            asked = self.source.page
            batch = await self.source.between(m.conversation_id, after, m.seq, since)
            for earlier in batch:
                yield earlier
            if not self.source.full(batch, asked):
                return
            after = batch[-1].seq


def _checked_filter(
    conversation_id: str | None, agent_id: str | None, user_id: str | None
) -> str | None:
    """The filter every message feed takes (conversation, agent, user), checked: the
    conversation id as stored (BAD_USER_INPUT otherwise)."""
    checked = uuid_id(conversation_id, "conversation_id") if conversation_id is not None else None
    identifier(agent_id, "agent_id")
    identifier(user_id, "user_id")
    return checked


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
    if conversation_id is None and after_seq is not None:
        raise ValidationFailed("afterSeq needs a conversationId", field="after_seq")
    conversation_id = _checked_filter(conversation_id, agent_id, user_id)
    if after_seq is not None and after_seq < 0:
        raise ValidationFailed("afterSeq must be >= 0", field="after_seq")
    source = _MessageSource(db, tenant_id)
    async with broadcast.subscribe(channel(tenant_id, "message_added", conversation_id)) as sub:
        feed = _MessageFeed(source, conversation_id, agent_id, user_id, resume_since)
        async for m in feed.replay(after_seq, resume):
            yield m
        sub.ready = True
        resync = resume is not None and conversation_id is None
        while True:
            if resync:
                resync = False
                async for m in feed.resync():
                    yield m
                continue
            item = await _next(sub)
            if item == "closed":
                return
            if item == "resync":
                resync = True
                continue
            async for m in feed.live(item):
                yield m


async def erased_feed(
    db: UnitOfWorkFactory,
    broadcast: Broadcast,
    tenant_id: str,
    *,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    user_id: str | None = None,
) -> AsyncIterator[MessageRecord]:
    """Tombstones as messages are erased (retention or erasure), for caches that must drop
    them. Live only: a subscriber that was away re-reads what it holds (`erased: true` on
    every erased message; `messageAdded(afterSeq:)` replays tombstones in their seq)."""
    conversation_id = _checked_filter(conversation_id, agent_id, user_id)
    async with broadcast.subscribe(channel(tenant_id, "message_erased", conversation_id)) as sub:
        if conversation_id is not None:  # NOT_FOUND, as every feed of one conversation
            await db.query(tenant_id, get_conversation, conversation_id)
        sub.ready = True
        while True:
            item = await _next(sub)
            if item == "closed":
                return
            if item == "resync":
                continue
            data = item["data"]
            if agent_id is not None and data.get("agent_id") != agent_id:
                continue
            if user_id is not None and data.get("user_id") != user_id:
                continue
            yield MessageRecord.from_dict(data["message"])


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


def annotation_version(m: MessageRecord) -> int:
    """An annotation's position for its subscriber: when it was written, in microseconds."""
    at = m.analysis["analyzed_at"] if m.analysis is not None else None
    return int(at.timestamp() * 1_000_000) if at is not None else 0


async def annotation_feed(
    db: UnitOfWorkFactory,
    broadcast: Broadcast,
    tenant_id: str,
    *,
    conversation_id: str | None = None,
    agent_id: str | None = None,
    user_id: str | None = None,
    resume: dict[str, int] | None = None,
    resume_since: datetime | None = None,
) -> AsyncIterator[MessageRecord]:
    """Messages as `annotateMessage` leaves them, each annotation once (newest wins per
    message). Live from the broadcast; after a broker outage or an overflow, the annotations
    written since the feed was last in sync are read from the database."""
    conversation_id = _checked_filter(conversation_id, agent_id, user_id)

    def wanted(conv_agent: str | None, conv_user: str | None) -> bool:
        return (agent_id is None or conv_agent == agent_id) and (
            user_id is None or conv_user == user_id
        )

    versions: dict[str, int] = dict(resume or {})

    def fresh(m: MessageRecord) -> bool:
        if m.analysis is None:  # a cleared analysis has no time of its own: always news
            versions.pop(m.id, None)
            return True
        version = annotation_version(m)
        if version <= versions.get(m.id, 0):
            return False
        if len(versions) >= TRACK_MAX:
            versions.clear()
        versions[m.id] = version
        return True

    async with broadcast.subscribe(channel(tenant_id, "message_annotated", conversation_id)) as sub:
        if conversation_id is not None:
            await db.query(tenant_id, get_conversation, conversation_id)
        synced_at = resume_since or utcnow()
        sub.ready = True
        pending_resync = resume_since is not None
        while True:
            item: Any = "resync" if pending_resync else await _next(sub)
            pending_resync = False
            if item == "closed":
                return
            if item == "resync":
                since = synced_at - IN_FLIGHT_MARGIN
                synced_at = utcnow()
                while True:
                    rows = await db.query(
                        tenant_id, annotated_since, since, conversation_id, RECENT_PAGE
                    )
                    for m, conv_agent, conv_user in rows:
                        if wanted(conv_agent, conv_user) and fresh(m):
                            yield m
                    if len(rows) < RECENT_PAGE:
                        break
                    last = rows[-1][0].analysis
                    since = last["analyzed_at"] if last is not None else synced_at
                continue
            data = item["data"]
            if not wanted(data.get("agent_id"), data.get("user_id")):
                continue
            m = MessageRecord.from_dict(data["message"])
            if fresh(m):
                yield m
