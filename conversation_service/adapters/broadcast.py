"""In-process publish/subscribe with a bounded buffer per subscriber.

The Redis fan-out (adapters/redis_broadcast.py) feeds the same local hub, so subscribers never
know whether an event came from this process or another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

#: Bytes of events one subscriber's mailbox may hold (WS_MAX_BUFFER_BYTES by default): a
#: subscriber stuck behind a socket that does not read held up to SUBSCRIBER_BUFFER events of
#: any size (300 events of 400 KB: +340 MB); past this bound it drops them and catches up from
#: the database instead.
MAILBOX_BYTES = 4_194_304


@dataclass(eq=False)
class Subscriber:
    """A bounded mailbox (in items and in bytes). When full it drops new items and remembers
    that it overflowed; the consumer then recovers what it missed from the database."""

    channel: str
    maxsize: int
    max_bytes: int = MAILBOX_BYTES
    items: deque[tuple[Any, int]] = field(default_factory=deque)
    size: int = 0
    overflowed: bool = False
    closed: bool = False
    #: set by the consumer once it has read its starting point (observability and tests)
    ready: bool = False
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, item: Any, size: int = 0) -> None:
        """Queue `item` (`size`: its encoded bytes, as received from the broker)."""
        if self.closed:
            return
        if len(self.items) >= self.maxsize or (self.items and self.size + size > self.max_bytes):
            self.overflowed = True
        else:
            self.items.append((item, size))
            self.size += size
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def get(self) -> Any:
        """Next item; raises `Overflowed` once after items were dropped, `EOFError` when closed."""
        while True:
            if self.overflowed:
                self.overflowed = False
                raise Overflowed
            if self.items:
                item, size = self.items.popleft()
                self.size -= size
                return item
            if self.closed:
                raise EOFError
            self._event.clear()
            await self._event.wait()


class Resync:
    """Marker delivered to every subscriber after the broker connection came back: events may
    have been missed meanwhile, so consumers catch up from the database."""

    def __repr__(self) -> str:
        return "RESYNC"


RESYNC = Resync()


class Overflowed(Exception):
    """The subscriber lost items: resynchronise from the source of truth."""


class LocalHub:
    """Channel -> subscribers of this process."""

    def __init__(self, buffer: int = 1000, buffer_bytes: int = MAILBOX_BYTES) -> None:
        self.buffer = buffer
        self.buffer_bytes = buffer_bytes
        self._channels: dict[str, set[Subscriber]] = {}

    def deliver(self, channel: str, item: Any, size: int = 0) -> None:
        for sub in tuple(self._channels.get(channel, ())):
            sub.put(item, size)

    def deliver_all(self, item: Any) -> None:
        """Deliver to every subscriber of every channel (e.g. the RESYNC marker)."""
        for subs in tuple(self._channels.values()):
            for sub in tuple(subs):
                sub.put(item)

    def has_subscribers(self, channel: str) -> bool:
        return bool(self._channels.get(channel))

    @property
    def channels(self) -> list[str]:
        return list(self._channels)

    def add(self, channel: str) -> tuple[Subscriber, bool]:
        sub = Subscriber(channel, self.buffer, self.buffer_bytes)
        subs = self._channels.setdefault(channel, set())
        first = not subs
        subs.add(sub)
        return sub, first

    def remove(self, sub: Subscriber) -> bool:
        """Remove; True when the channel has no subscriber left."""
        subs = self._channels.get(sub.channel)
        sub.close()
        if subs is None:
            return False
        subs.discard(sub)
        if not subs:
            del self._channels[sub.channel]
            return True
        return False

    def close_all(self) -> None:
        for subs in self._channels.values():
            for sub in subs:
                sub.close()

    def subscriber_count(self, *, ready_only: bool = False) -> int:
        return sum(
            sum(1 for sub in subs if sub.ready or not ready_only)
            for subs in self._channels.values()
        )


class MemoryBroadcast:
    """Single-process broadcast: publish delivers straight to local subscribers."""

    def __init__(self, buffer: int = 1000, buffer_bytes: int = MAILBOX_BYTES) -> None:
        self.hub = LocalHub(buffer, buffer_bytes)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self.hub.close_all()

    async def publish(self, channel: str, message: bytes) -> None:
        self.hub.deliver(channel, orjson.loads(message), len(message))

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        for channel, message in items:
            self.hub.deliver(channel, orjson.loads(message), len(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        sub, _ = self.hub.add(channel)
        try:
            yield sub
        finally:
            self.hub.remove(sub)

    async def ping(self) -> None:
        return None
