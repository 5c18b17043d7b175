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
from typing import Any, Protocol

import orjson


@dataclass(eq=False)
class Subscriber:
    """A bounded mailbox. When full it drops new items and remembers that it overflowed;
    the consumer then recovers what it missed from the database."""

    channel: str
    maxsize: int
    items: deque[Any] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    #: set by the consumer once it has read its starting point (observability and tests)
    ready: bool = False
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, item: Any) -> None:
        if self.closed:
            return
        if len(self.items) >= self.maxsize:
            self.overflowed = True
        else:
            self.items.append(item)
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
                return self.items.popleft()
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

    def __init__(self, buffer: int = 1000) -> None:
        self.buffer = buffer
        self._channels: dict[str, set[Subscriber]] = {}

    def deliver(self, channel: str, item: Any) -> None:
        for sub in tuple(self._channels.get(channel, ())):
            sub.put(item)

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
        sub = Subscriber(channel, self.buffer)
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

    def __init__(self, buffer: int = 1000) -> None:
        self.hub = LocalHub(buffer)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self.hub.close_all()

    async def publish(self, channel: str, message: bytes) -> None:
        self.hub.deliver(channel, orjson.loads(message))

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        for channel, message in items:
            self.hub.deliver(channel, orjson.loads(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        sub, _ = self.hub.add(channel)
        try:
            yield sub
        finally:
            self.hub.remove(sub)

    async def ping(self) -> None:
        return None


class Broadcast(Protocol):
    """What the app needs of a broadcast (in memory or Redis): publish, subscribe, probe."""

    hub: LocalHub

    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    async def publish_many(self, items: list[tuple[str, bytes]]) -> None: ...
    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscriber]: ...
    async def ping(self) -> None: ...
