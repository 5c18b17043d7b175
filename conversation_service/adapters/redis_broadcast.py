"""Fan-out across instances through Redis pub/sub, written on `redis.asyncio`.

Why not the `broadcaster` package (0.3.1): with redis-py 8 its Redis backend delivers nothing
(a start-up race in its listener), with redis-py 7 a Redis restart kills its listener and
subscribers hang forever, its per-subscriber queues are unbounded, and two subscribers joining
a new channel at once can raise KeyError. This module keeps broadcaster's shape (connect,
publish, `subscribe(channel)` as an async context manager) and adds what it lacks:

* a self-healing listener per process (`pubsub_link.PubSubLink`: reconnect with backoff,
  re-subscribe, then RESYNC every local subscriber);
* bounded mailboxes (see `LocalHub`), an `Overflowed` signal instead of unbounded growth;
* reference-counted channels: Redis SUBSCRIBE on the first local subscriber, UNSUBSCRIBE on the
  last, and `subscribe()` waits for Redis to confirm before it returns;
* pipelined publishing (one round trip per commit, whatever the number of events).

A subscriber's exit is synchronous (no await in its `finally`), so no cancellation can skip it.
For a Redis Cluster see `sharded_broadcast.py` (the same, one link per master, SSUBSCRIBE).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from conversation_service.adapters.broadcast import MAILBOX_BYTES, LocalHub, Subscriber
from conversation_service.adapters.pubsub_link import PubSubLink

log = logging.getLogger(__name__)


class RedisBroadcast:
    def __init__(
        self,
        url: str,
        buffer: int = 1000,
        buffer_bytes: int = MAILBOX_BYTES,
        *,
        confirm_timeout_s: float = 2.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self.hub = LocalHub(buffer, buffer_bytes)
        self.url = url
        self._client = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._link = PubSubLink(
            self,
            self._client,
            confirm_timeout_s=confirm_timeout_s,
            max_backoff_s=max_backoff_s,
        )
        self.connected = self._link.connected

    @property
    def generation(self) -> int:
        """Connections made so far (a reconnect raises it)."""
        return self._link.generation

    # what the link asks ------------------------------------------------------------------
    def channels_of(self, link: PubSubLink) -> list[str]:
        return self.hub.channels

    def wants(self, link: PubSubLink, channel: str) -> bool:
        return self.hub.has_subscribers(channel)

    def link_changed(self, link: PubSubLink) -> None:
        return None

    def topology_changed(self, link: PubSubLink) -> None:
        return None

    # lifecycle ---------------------------------------------------------------------------
    async def connect(self, wait_s: float = 2.0) -> None:
        """Start the listener; waits briefly for Redis but never fails start-up because of it."""
        self._link.start()
        with contextlib.suppress(TimeoutError):
            await self._link.connected_within(wait_s)

    async def disconnect(self) -> None:
        await self._link.stop()  # closes the client too
        self.hub.close_all()

    async def ping(self) -> None:
        await self._client.ping()
        if not self.connected.is_set():
            raise ConnectionError("broadcast listener is not connected")

    # publishing --------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for channel, message in items:
                    pipe.publish(channel, message)
                await pipe.execute()
        except (RedisError, OSError):
            # Redis is away: this instance's own subscribers still get the events; the others
            # recover them from the database when their listener reconnects (RESYNC).
            for channel, message in items:
                self.hub.deliver(channel, orjson.loads(message), len(message))
            raise

    # subscribing -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        sub, first = self.hub.add(channel)
        try:
            if first:
                self._link.prepare(channel)
                self._link.mark(channel)
            await self._link.wait_confirmed(channel)
            yield sub
        finally:
            if self.hub.remove(sub):
                self._link.mark(channel)  # synchronous: a cancellation cannot skip it
