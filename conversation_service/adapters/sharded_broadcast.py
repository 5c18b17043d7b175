"""Fan-out across instances through a Redis Cluster's sharded pub/sub (SSUBSCRIBE/SPUBLISH).

Classic PUBLISH in a cluster is copied to every node over the cluster bus, so its cost grows
with the cluster; a shard channel lives on the master of its slot only. Channels are hash-tagged
by tenant (`cs:{tenant}:...`, see `adapters/events.py`), so one commit's events (the tenant's
channel and the conversation's) are one slot and one SPUBLISH round trip.

Same contract as `RedisBroadcast` (bounded mailboxes, confirmed subscriptions, RESYNC after a
lost connection), with one `PubSubLink` per master carrying the channels of that master's
slots. Why not redis-py's `ClusterPubSub`: its `get_sharded_message` polls the nodes one after
the other, each with the full timeout, so a message on the third master waits for the first two
to time out; and it reconnects a node's connection silently, so a listener cannot tell its
subscribers that events may have been lost. Here every master has its own listener task and
reconnects visibly.

Topology: the masters come from the cluster client (`RedisCluster`, which follows MOVED on its
own for publishing). When a master tells its shard subscribers that a slot moved away (an
unsolicited SUNSUBSCRIBE) or refuses an SSUBSCRIBE with MOVED, the topology is read again,
channels are re-routed to their new master and their subscribers resynchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from conversation_service.adapters.broadcast import MAILBOX_BYTES, RESYNC, LocalHub, Subscriber
from conversation_service.adapters.pubsub_link import PubSubLink
from conversation_service.adapters.redis_client import parse_cluster_url, redis_client

log = logging.getLogger(__name__)

_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2}


class ShardedRedisBroadcast:
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
        self._target = parse_cluster_url(url)
        cluster = redis_client(url, **_TIMEOUTS)
        assert isinstance(cluster, RedisCluster)
        self._cluster = cluster
        self._confirm_timeout = confirm_timeout_s
        self._max_backoff = max_backoff_s
        #: master name ("host:port") -> its link
        self._links: dict[str, PubSubLink] = {}
        #: channel with local subscribers -> the master carrying it
        self._route: dict[str, str] = {}
        self._retired: list[asyncio.Task[None]] = []
        self._retired_generations = 0
        self._stale = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        #: set while every master's link is connected
        self.connected = asyncio.Event()

    @property
    def generation(self) -> int:
        """Connections made so far over all masters (any reconnect raises it)."""
        return self._retired_generations + sum(link.generation for link in self._links.values())

    # what the links ask ------------------------------------------------------------------
    def channels_of(self, link: PubSubLink) -> list[str]:
        return [
            c
            for c, name in self._route.items()
            if name == link.name and self.hub.has_subscribers(c)
        ]

    def wants(self, link: PubSubLink, channel: str) -> bool:
        return self._route.get(channel) == link.name and self.hub.has_subscribers(channel)

    def link_changed(self, link: PubSubLink) -> None:
        self._update_connected()

    def _update_connected(self) -> None:
        up = bool(self._links) and all(x.connected.is_set() for x in self._links.values())
        if up:
            self.connected.set()
        else:
            self.connected.clear()

    def topology_changed(self, link: PubSubLink) -> None:
        self._stale.set()

    # lifecycle ---------------------------------------------------------------------------
    async def connect(self, wait_s: float = 2.0) -> None:
        """Learn the masters and start their listeners; waits briefly for the cluster but never
        fails start-up because of it (the watcher keeps trying)."""
        self._closing = False
        self._watcher = asyncio.create_task(self._watch(), name="sharded-broadcast-topology")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self.connected.wait()

    async def disconnect(self) -> None:
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
            self._watcher = None
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.stop()
        await asyncio.gather(*self._retired, return_exceptions=True)
        self.connected.clear()
        self.hub.close_all()
        await self._cluster.aclose()

    async def ping(self) -> None:
        await self._cluster.ping()
        if not self.connected.is_set():
            raise ConnectionError("a broadcast listener of the cluster is not connected")

    async def _watch(self) -> None:
        """Read the topology (retrying while the cluster is unreachable), then again whenever a
        link reports a moved slot."""
        backoff = 0.05
        first = True
        while not self._closing:
            try:
                if first:
                    await self._cluster.initialize()
                    first = False
                else:
                    await self._cluster.nodes_manager.initialize()
                self._apply_topology()
                backoff = 0.05
                self._stale.clear()
                await self._stale.wait()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("reading the Redis Cluster topology failed (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _apply_topology(self) -> None:
        masters = {node.name: node for node in self._cluster.get_primaries()}
        for name, node in masters.items():
            if name not in self._links:
                client = aioredis.from_url(
                    self._target.node_url(node.host, int(node.port)), **_TIMEOUTS
                )
                link = PubSubLink(
                    self,
                    client,
                    sharded=True,
                    name=name,
                    confirm_timeout_s=self._confirm_timeout,
                    max_backoff_s=self._max_backoff,
                )
                self._links[name] = link
                link.start()
        for channel in self.hub.channels:
            self._reroute(channel)
        for name in [n for n in self._links if n not in masters]:
            gone = self._links.pop(name)
            self._retired_generations += gone.generation
            self._retired.append(asyncio.create_task(gone.stop()))
        self._update_connected()

    def _master_of(self, channel: str) -> str | None:
        try:
            node = self._cluster.get_node_from_key(channel)
        except Exception:  # no slot map yet, or the slot is not covered
            return None
        return node.name if node is not None and node.name in self._links else None

    def _reroute(self, channel: str) -> None:
        new = self._master_of(channel)
        old = self._route.get(channel)
        if new == old:
            return
        if new is None:
            self._route.pop(channel, None)
        else:
            self._route[channel] = new
            self._links[new].mark(channel)
        if old is not None:
            previous = self._links.get(old)
            if previous is not None:
                previous.mark(channel)  # it no longer wants the channel: SUNSUBSCRIBE there
            self.hub.deliver(channel, RESYNC)  # events may have been lost during the move

    # publishing --------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        try:
            async with self._cluster.pipeline(transaction=False) as pipe:
                for channel, message in items:
                    pipe.execute_command("SPUBLISH", channel, message)
                await pipe.execute()
        except (RedisError, OSError):
            # Part of the cluster is away: this instance's own subscribers still get the
            # events (a duplicate of one that went through is dropped by its feed's seq); the
            # others recover them from the database when their listener reconnects.
            for channel, message in items:
                self.hub.deliver(channel, orjson.loads(message), len(message))
            raise

    # subscribing -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        sub, first = self.hub.add(channel)
        try:
            if first:
                name = self._route.get(channel) or self._master_of(channel)
                if name is None:
                    self._stale.set()  # routed when the topology is known
                else:
                    self._route[channel] = name
                    self._links[name].prepare(channel)
                    self._links[name].mark(channel)
            link = self._links.get(self._route.get(channel, ""))
            if link is not None:
                await link.wait_confirmed(channel)
            yield sub
        finally:
            if self.hub.remove(sub):
                name = self._route.pop(channel, None)  # synchronous: no cancellation skips it
                link = self._links.get(name) if name is not None else None
                if link is not None:
                    link.mark(channel)
