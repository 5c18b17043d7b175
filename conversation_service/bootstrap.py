"""Builds the dependencies once, the same way for the app, the worker and the tests, and wires
the reactions across aggregates (event handlers) in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from conversation_service.adapters.broadcast import Broadcast, MemoryBroadcast
from conversation_service.adapters.crm import CrmService, load_crm_directory
from conversation_service.adapters.database import Database, create_engine
from conversation_service.adapters.events import BroadcastPublisher
from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.adapters.redis_broadcast import RedisBroadcast
from conversation_service.adapters.redis_client import RedisClient, is_cluster, redis_client
from conversation_service.adapters.sharded_broadcast import ShardedRedisBroadcast
from conversation_service.config import Settings
from conversation_service.domain import crm_sync
from conversation_service.domain.events import ConversationCompleted, CrmSyncQueued
from conversation_service.domain.policies import ContextPolicy
from conversation_service.domain.reactions import Reactions
from conversation_service.observability.tracing import Tracing

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    #: the unit-of-work factory (engine, publisher, CRM, reactions)
    db: Database
    broadcast: Broadcast
    crm: CrmService
    #: `redis.asyncio.Redis`, or `RedisCluster` for a `redis+cluster://` URL
    redis: RedisClient | None = None
    tracing: Tracing = field(default_factory=Tracing)
    rate_limiter: RateLimiter | None = None

    async def close(self) -> None:
        await self.crm.aclose()
        await self.broadcast.disconnect()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        self.tracing.shutdown()


def make_broadcast(settings: Settings) -> Broadcast:
    if settings.broadcast_url and is_cluster(settings.broadcast_url):
        return ShardedRedisBroadcast(
            settings.broadcast_url, settings.subscriber_buffer, settings.ws_max_buffer_bytes
        )
    if settings.broadcast_url:
        return RedisBroadcast(
            settings.broadcast_url, settings.subscriber_buffer, settings.ws_max_buffer_bytes
        )
    return MemoryBroadcast(settings.subscriber_buffer, settings.ws_max_buffer_bytes)


def reactions(crm: CrmService) -> Reactions:
    """Reactions across aggregates. In the transaction of the change: a conversation set to
    COMPLETED queues its CRM sync (when the tenant's CRM auto-syncs). After commit: a queued
    sync wakes this process's sync runner."""
    r = Reactions()
    r.on(ConversationCompleted, crm_sync.queue_sync_on_completed)
    r.after(CrmSyncQueued, lambda _event: crm.notify())
    return r


async def build_container(settings: Settings, tracing: Tracing | None = None) -> Container:
    # Fails at start-up on a tier without a limit (not later, as every caller's error).
    policy = ContextPolicy.from_settings(settings)
    broadcast = make_broadcast(settings)
    await broadcast.connect()
    engine = create_engine(settings)
    tracing = tracing or Tracing.start(settings.otel_enabled, settings.otel_service_name)
    tracing.instrument()
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    crm = CrmService(
        load_crm_directory(settings.crm_config_file), redis=redis, env=settings.nooble_env
    )
    db = Database(
        engine,
        BroadcastPublisher(broadcast),
        settings=settings,
        crm=crm,
        reactions=reactions(crm),
        context_policy=policy,
    )
    return Container(
        settings=settings,
        db=db,
        broadcast=broadcast,
        redis=redis,
        crm=crm,
        tracing=tracing,
        rate_limiter=make_rate_limiter(settings, redis),
    )


def make_rate_limiter(settings: Settings, redis: RedisClient | None = None) -> RateLimiter:
    """On the container's Redis pool when `REDIS_URL` is set (one count for all instances)."""
    return RateLimiter(
        settings.rate_limit, settings.tenant_limits, redis=redis, redis_url=settings.redis_url
    )
