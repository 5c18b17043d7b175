"""One pub/sub connection of the Redis fan-out and the channels it carries.

The single-server broadcast has one link; the cluster broadcast one per master, carrying the
shard channels of that master's slots (SSUBSCRIBE). A link:

* keeps a listener task that reconnects with backoff and re-subscribes every channel it still
  carries, then tells their local subscribers to RESYNC (they may have missed events while the
  connection was away; subscribers recover them from the database);
* confirms each subscription: `wait_confirmed` returns once Redis has acknowledged it, so the
  caller can read its database baseline knowing that every later publish will reach it;
* sends SUBSCRIBE and UNSUBSCRIBE from one task of its own (the syncer), never from the
  subscriber's task: a subscriber only marks its channel. redis-py writes every command under
  `asyncio.wait_for(..., socket_timeout)`, and on Python 3.11 `wait_for` swallows a cancellation
  that arrives as its inner write completes; a socket closed right after subscribing cancelled
  its feed exactly then, and the feed ran on forever (3,000 connect-subscribe-close cycles left
  3,213 subscribers and Redis channels).

What the link carries is its owner's decision (`LinkOwner`): every channel with subscribers for
one server, the channels routed to its master for a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from conversation_service.adapters.broadcast import RESYNC, LocalHub
from conversation_service.adapters.redis_client import slot_of

log = logging.getLogger(__name__)

#: Subscribed by every link, so a connection is in subscribed mode (and pinged) even while it
#: carries no channel of ours; nothing is published on it.
CONTROL_CHANNEL = "cs:__control__"


class LinkOwner(Protocol):
    hub: LocalHub

    def channels_of(self, link: PubSubLink) -> list[str]:
        """The channels `link` must carry now."""
        ...

    def wants(self, link: PubSubLink, channel: str) -> bool: ...

    def link_changed(self, link: PubSubLink) -> None:
        """`link` connected or lost its connection."""
        ...

    def topology_changed(self, link: PubSubLink) -> None:
        """`link` lost its server, or the server moved a shard channel away from it (a slot
        changed master): the cluster's topology may have changed."""
        ...


class PubSubLink:
    def __init__(
        self,
        owner: LinkOwner,
        client: aioredis.Redis,
        *,
        sharded: bool = False,
        name: str = "redis",
        confirm_timeout_s: float = 2.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self.owner = owner
        self.client = client
        self.sharded = sharded
        self.name = name
        self._confirm_timeout = confirm_timeout_s
        self._max_backoff = max_backoff_s
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        #: channels whose Redis subscription may differ from what the owner wants
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        #: channels subscribed (or being subscribed) on the current connection
        self._subscribed: set[str] = set()
        #: SUBSCRIBE confirmations still to come per channel, and who waits for them
        self._unconfirmed: dict[str, int] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self.connected = asyncio.Event()
        self.generation = 0

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._listen(), name=f"broadcast-listener-{self.name}"),
            asyncio.create_task(self._sync(), name=f"broadcast-syncer-{self.name}"),
        ]

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._set_connected(False)
        await self.client.aclose()

    async def connected_within(self, wait_s: float) -> None:
        """Raises TimeoutError when the link is not connected within `wait_s`."""
        async with asyncio.timeout(wait_s):
            await self.connected.wait()

    # what subscribers call ---------------------------------------------------------------
    def prepare(self, channel: str) -> None:
        """A first local subscriber: `wait_confirmed` waits for this channel's SUBSCRIBE."""
        if channel not in self._subscribed:
            self._confirmed[channel] = asyncio.Event()

    def mark(self, channel: str) -> None:
        """Bring the subscription of `channel` to what the owner wants (synchronous: a
        cancellation cannot skip it)."""
        self._dirty.add(channel)
        self._wake.set()

    def forget(self, channel: str) -> None:
        """The server dropped `channel` on its own (its slot moved): no UNSUBSCRIBE to send."""
        self._subscribed.discard(channel)
        self._unconfirmed.pop(channel, None)
        event = self._confirmed.pop(channel, None)
        if event is not None:
            event.set()

    async def wait_confirmed(self, channel: str) -> None:
        event = self._confirmed.get(channel)
        if event is None or not self.connected.is_set():
            return  # confirmed already, or the listener subscribes it when it (re)connects
        with contextlib.suppress(TimeoutError):
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the event fires, leaving the cancelled subscriber running forever.
            async with asyncio.timeout(self._confirm_timeout):
                await event.wait()

    # talking to Redis --------------------------------------------------------------------
    async def _send(self, pubsub: Any, subscribe: bool, channels: list[str]) -> None:
        if not channels:
            return
        if not self.sharded:
            await (pubsub.subscribe if subscribe else pubsub.unsubscribe)(*channels)
            return
        # SSUBSCRIBE takes channels of one slot per command (CROSSSLOT otherwise).
        by_slot: dict[int, list[str]] = defaultdict(list)
        for c in channels:
            by_slot[slot_of(c)].append(c)
        for group in by_slot.values():
            await (pubsub.ssubscribe if subscribe else pubsub.sunsubscribe)(*group)

    async def _sync(self) -> None:
        """Bring Redis's subscriptions to what the owner wants, in batches."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            pubsub = self._pubsub
            if pubsub is None or not self.connected.is_set():
                continue  # woken again once the listener has (re)connected
            dirty, self._dirty = self._dirty, set()
            wants = self.owner.wants
            add = [c for c in dirty if wants(self, c) and c not in self._subscribed]
            drop = [c for c in dirty if not wants(self, c) and c in self._subscribed]
            try:
                if drop:
                    self._subscribed.difference_update(drop)
                    for c in drop:
                        self._confirmed.pop(c, None)
                    await self._send(pubsub, False, drop)
                if add:
                    self._subscribed.update(add)
                    for c in add:
                        self._unconfirmed[c] = self._unconfirmed.get(c, 0) + 1
                    await self._send(pubsub, True, add)
            except (RedisError, OSError):
                log.warning("SUBSCRIBE/UNSUBSCRIBE failed; retried when the listener reconnects")

    def _set_connected(self, up: bool) -> None:
        if up == self.connected.is_set():
            return
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        self.owner.link_changed(self)

    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closing:
            pubsub = self.client.pubsub()
            try:
                channels = self.owner.channels_of(self)
                self._subscribed = set(channels)
                self._unconfirmed = dict.fromkeys(channels, 1)
                self._confirmed = {c: e for c, e in self._confirmed.items() if c in channels}
                if self.sharded:
                    await pubsub.subscribe(CONTROL_CHANNEL)
                    await self._send(pubsub, True, channels)
                else:
                    await pubsub.subscribe(CONTROL_CHANNEL, *channels)
                self._pubsub = pubsub
                self.generation += 1
                reconnected = self.generation > 1
                self._set_connected(True)
                backoff = 0.05
                self._wake.set()  # the syncer catches up with changes made meanwhile
                if reconnected:
                    log.info("broadcast listener %s reconnected; resynchronising", self.name)
                    for c in channels:
                        self.owner.hub.deliver(c, RESYNC)
                while not self._closing:
                    msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                    if msg is None:
                        await pubsub.ping()
                        continue
                    self._dispatch(msg)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                # MOVED to a (S)SUBSCRIBE: this master no longer owns a slot we asked for.
                log.warning("broadcast listener %s: %s; re-reading the topology", self.name, exc)
                self._set_connected(False)
                self.owner.topology_changed(self)
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning(
                        "broadcast listener %s lost Redis (%s); reconnecting", self.name, exc
                    )
                self._set_connected(False)
                # A master that stays away may have been replaced (failover): the owner reads
                # the topology again and moves its channels to the new master.
                self.owner.topology_changed(self)
            except Exception:
                log.exception("broadcast listener %s failed; restarting it", self.name)
                self._set_connected(False)
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
        if not isinstance(channel, str):
            return
        if kind in ("message", "smessage"):
            try:
                payload = orjson.loads(msg["data"])
            except orjson.JSONDecodeError:
                log.warning("dropping a malformed broadcast on %s", channel)
                return
            self.owner.hub.deliver(channel, payload, len(msg["data"]))
        elif kind in ("subscribe", "ssubscribe"):
            left = self._unconfirmed.get(channel, 0) - 1
            if left > 0:
                self._unconfirmed[channel] = left
                return
            self._unconfirmed.pop(channel, None)
            event = self._confirmed.pop(channel, None)
            if event is not None:
                event.set()
        elif kind == "sunsubscribe" and channel in self._subscribed:
            # Not asked for: the channel's slot moved to another master (Redis 7 tells its
            # shard subscribers so). The owner re-routes it and its subscribers resynchronise.
            self.forget(channel)
            self.owner.topology_changed(self)
