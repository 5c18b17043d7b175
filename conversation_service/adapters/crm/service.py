"""`CrmService`: the process's CRM side (configuration, one client per configuration entry,
customer cache, and the wake-up of the local sync runner).

`build_container` makes one per process; units of work carry it (`uow.crm`) to the domain.
"""

from __future__ import annotations

import asyncio

import httpx

from conversation_service.adapters.crm.base import CrmClient
from conversation_service.adapters.crm.cache import (
    CustomerCache,
    MemoryCustomerCache,
    RedisCustomerCache,
)
from conversation_service.adapters.crm.config import CrmConfig, CrmDirectory
from conversation_service.adapters.crm.generic_http import GenericHttpCrm
from conversation_service.adapters.crm.hubspot import HubSpotCrm
from conversation_service.adapters.redis_client import RedisClient


def make_client(
    config: CrmConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> CrmClient:
    if config.connector == "hubspot":
        return HubSpotCrm(config, transport=transport)
    return GenericHttpCrm(config, transport=transport)


class CrmService:
    def __init__(
        self,
        directory: CrmDirectory | None = None,
        *,
        redis: RedisClient | None = None,
        env: str = "dev",
        cache: CustomerCache | None = None,
    ) -> None:
        self.directory = directory or CrmDirectory()
        self.cache: CustomerCache = cache or (
            RedisCustomerCache(redis) if redis is not None else MemoryCustomerCache()
        )
        self.cache_prefix = f"nooble4:{env}:conversation:crm:customer"
        self._clients: dict[str, tuple[CrmConfig, CrmClient]] = {}
        self._retired: list[CrmClient] = []
        self.wake = asyncio.Event()
        #: operational counters (cache hit ratio, CRM errors), for metrics and tests
        self.stats: dict[str, int] = {
            "cache_hits": 0,
            "cache_misses": 0,
            "lookup_errors": 0,
            "pushes": 0,
            "push_errors": 0,
        }

    def config_for(self, tenant_id: str) -> CrmConfig | None:
        return self.directory.for_tenant(tenant_id)

    def client_for(self, tenant_id: str) -> tuple[CrmConfig, CrmClient] | None:
        """The tenant's CRM client: one per configuration entry (so one breaker per CRM)."""
        config = self.config_for(tenant_id)
        if config is None:
            return None
        held = self._clients.get(config.key)
        if held is not None and held[0] is config:
            return held
        if held is not None:  # the entry was replaced: a new client (and breaker) for it
            self._retired.append(held[1])
        client = make_client(config)
        self._clients[config.key] = (config, client)
        return config, client

    def notify(self) -> None:
        """Tell the local sync runner that a request was queued (others poll)."""
        self.wake.set()

    async def aclose(self) -> None:
        clients = [c for _, c in self._clients.values()] + self._retired
        self._clients, self._retired = {}, []
        for c in clients:
            await c.aclose()
