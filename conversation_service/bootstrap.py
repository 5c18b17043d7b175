"""Builds the dependencies once, the same way for the app, the worker and the tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from conversation_service.adapters.broadcast import MemoryBroadcast
from conversation_service.adapters.crm import CrmService, attach, load_crm_directory
from conversation_service.adapters.database import Database, create_engine
from conversation_service.adapters.events import BroadcastPublisher
from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.config import Settings
from conversation_service.observability.tracing import Tracing

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    db: Database
    broadcast: Any
    redis: Any = None
    crm: CrmService | None = None
    tracing: Tracing = field(default_factory=Tracing)
    rate_limiter: RateLimiter | None = None

    async def close(self) -> None:
        if self.crm is not None:
            await self.crm.aclose()
        await self.broadcast.disconnect()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        self.tracing.shutdown()


def make_broadcast(settings: Settings) -> Any:
    if settings.broadcast_url:
        from conversation_service.adapters.redis_broadcast import RedisBroadcast

        return RedisBroadcast(
            settings.broadcast_url, settings.subscriber_buffer, settings.ws_max_buffer_bytes
        )
    return MemoryBroadcast(settings.subscriber_buffer, settings.ws_max_buffer_bytes)


async def build_container(settings: Settings, tracing: Tracing | None = None) -> Container:
    from conversation_service.domain import context, search

    context.configure(settings)  # tier and model defaults of conversationContext
    search.configure(settings)  # the text-search language of searchMessages
    broadcast = make_broadcast(settings)
    await broadcast.connect()
    engine = create_engine(settings)
    tracing = tracing or Tracing.start(settings.otel_enabled, settings.otel_service_name)
    tracing.instrument()
    db = Database(engine, BroadcastPublisher(broadcast))
    redis = None
    if settings.redis_url:
        import redis.asyncio as aioredis

        redis = aioredis.from_url(settings.redis_url)
    crm = CrmService(
        load_crm_directory(settings.crm_config_file), redis=redis, env=settings.nooble_env
    )
    attach(db, crm)  # domain functions that get only `db` reach the CRM through it
    return Container(
        settings=settings,
        db=db,
        broadcast=broadcast,
        redis=redis,
        crm=crm,
        tracing=tracing,
        rate_limiter=make_rate_limiter(settings, redis),
    )


def make_rate_limiter(settings: Settings, redis: Any = None) -> RateLimiter:
    """On the container's Redis pool when `REDIS_URL` is set (one count for all instances)."""
    return RateLimiter(
        settings.rate_limit, settings.tenant_limits, redis=redis, redis_url=settings.redis_url
    )
