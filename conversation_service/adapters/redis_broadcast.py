"""Fan-out across instances through Redis pub/sub, written on `redis.asyncio`.

Why not the `broadcaster` package (0.3.1): with redis-py 8 its Redis backend delivers nothing
(a start-up race in its listener), with redis-py 7 a Redis restart kills its listener and
subscribers hang forever, its per-subscriber queues are unbounded, and two subscribers joining
a new channel at once can raise KeyError. This module keeps broadcaster's shape (connect,
publish, `subscribe(channel)` as an async context manager) and adds what it lacks:

* one listener task per process that reconnects with backoff and re-subscribes every channel
  the process still needs, then tells every local subscriber to RESYNC (it may have missed
  events while Redis was away; subscribers recover them from the database);
* bounded mailboxes (see `LocalHub`), an `Overflowed` signal instead of unbounded growth;
* reference-counted channels: Redis SUBSCRIBE on the first local subscriber, UNSUBSCRIBE on the
  last, and `subscribe()` waits for Redis to confirm before it returns so callers can read
  their database baseline knowing that every later publish will reach them;
* pipelined publishing (one round trip per commit, whatever the number of events).

SUBSCRIBE and UNSUBSCRIBE are sent by one task of the broadcast (the syncer), never by the
subscriber's own task: a subscriber only marks its channel and waits on an `asyncio.Event`.
redis-py writes every command under `asyncio.wait_for(..., socket_timeout)`, and on Python 3.11
`wait_for` swallows a cancellation that arrives as its inner write completes; a socket closed
right after subscribing cancels its feed exactly then, and the feed ran on forever (3,000
connect-subscribe-close cycles left 3,213 subscribers and Redis channels). A subscriber's exit is
now synchronous (no await in its `finally`), so no cancellation can skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from conversation_service.adapters.broadcast import MAILBOX_BYTES, RESYNC, LocalHub, Subscriber

log = logging.getLogger(__name__)

CONTROL_CHANNEL = "cs:__control__"


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
        self._confirm_timeout = confirm_timeout_s
        self._max_backoff = max_backoff_s
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._closing = False
        #: channels whose Redis subscription may differ from what the hub needs
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        #: channels subscribed (or being subscribed) on the current Redis connection
        self._subscribed: set[str] = set()
        #: SUBSCRIBE confirmations still to come per channel, and who waits for them
        self._unconfirmed: dict[str, int] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self.connected = asyncio.Event()
        self.generation = 0

    # lifecycle ---------------------------------------------------------------------------
    async def connect(self, wait_s: float = 2.0) -> None:
        """Start the listener; waits briefly for Redis but never fails start-up because of it."""
        self._closing = False
        self._listener = asyncio.create_task(self._listen(), name="redis-broadcast-listener")
        self._syncer = asyncio.create_task(self._sync(), name="redis-broadcast-syncer")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self.connected.wait()

    async def disconnect(self) -> None:
        self._closing = True
        self._wake.set()
        for task in (self._syncer, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._listener = self._syncer = None
        self.hub.close_all()
        await self._client.aclose()

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
                if channel not in self._subscribed:
                    self._confirmed[channel] = asyncio.Event()
                self._mark(channel)
            await self._wait_confirmed(channel)
            yield sub
        finally:
            if self.hub.remove(sub):
                self._mark(channel)  # synchronous: a cancellation cannot skip it

    def _mark(self, channel: str) -> None:
        self._dirty.add(channel)
        self._wake.set()

    async def _wait_confirmed(self, channel: str) -> None:
        event = self._confirmed.get(channel)
        if event is None or not self.connected.is_set():
            return  # confirmed already, or the listener subscribes it when it (re)connects
        with contextlib.suppress(TimeoutError):
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the event fires, leaving the cancelled subscriber running forever.
            async with asyncio.timeout(self._confirm_timeout):
                await event.wait()

    async def _sync(self) -> None:
        """Bring Redis's subscriptions to what the hub needs, in batches (one command each way)."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            pubsub = self._pubsub
            if pubsub is None or not self.connected.is_set():
                continue  # woken again once the listener has (re)connected
            dirty, self._dirty = self._dirty, set()
            add = [c for c in dirty if self.hub.has_subscribers(c) and c not in self._subscribed]
            drop = [c for c in dirty if not self.hub.has_subscribers(c) and c in self._subscribed]
            try:
                if drop:
                    self._subscribed.difference_update(drop)
                    for c in drop:
                        self._confirmed.pop(c, None)
                    await pubsub.unsubscribe(*drop)
                if add:
                    self._subscribed.update(add)
                    for c in add:
                        self._unconfirmed[c] = self._unconfirmed.get(c, 0) + 1
                    await pubsub.subscribe(*add)
            except (RedisError, OSError):
                log.warning("SUBSCRIBE/UNSUBSCRIBE failed; retried when the listener reconnects")

    # the listener ------------------------------------------------------------------------
    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                channels = self.hub.channels
                self._subscribed = set(channels)
                self._unconfirmed = dict.fromkeys(channels, 1)
                self._confirmed = {c: e for c, e in self._confirmed.items() if c in channels}
                await pubsub.subscribe(CONTROL_CHANNEL, *channels)
                self._pubsub = pubsub
                self.generation += 1
                reconnected = self.generation > 1
                self.connected.set()
                backoff = 0.05
                self._wake.set()  # the syncer catches up with changes made meanwhile
                if reconnected:
                    log.info("broadcast listener reconnected; resynchronising subscribers")
                    self.hub.deliver_all(RESYNC)
                while not self._closing:
                    msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                    if msg is None:
                        await pubsub.ping()
                        continue
                    self._dispatch(msg)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("broadcast listener lost Redis (%s); reconnecting", exc)
                self.connected.clear()
            except Exception:
                log.exception("broadcast listener failed; restarting it")
                self.connected.clear()
            finally:
                self._pubsub = None
                self._subscribed = set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        channel = msg.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind == "message" and isinstance(channel, str):
            try:
                payload = orjson.loads(msg["data"])
            except orjson.JSONDecodeError:
                log.warning("dropping a malformed broadcast on %s", channel)
                return
            self.hub.deliver(channel, payload, len(msg["data"]))
        elif kind == "subscribe" and isinstance(channel, str):
            left = self._unconfirmed.get(channel, 0) - 1
            if left > 0:
                self._unconfirmed[channel] = left
                return
            self._unconfirmed.pop(channel, None)
            event = self._confirmed.pop(channel, None)
            if event is not None:
                event.set()
