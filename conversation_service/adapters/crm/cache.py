"""Customer cache with a TTL: Redis when configured (shared by every instance), else in-process.

A cached value is the customer or None (known to be absent); a miss is "not in the cache".
Cache failures are misses, never errors: enrichment must not fail because Redis hiccups.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import orjson

from conversation_service.adapters.redis_client import RedisClient

log = logging.getLogger("conversation_service.crm")

MISS = object()


class CustomerCache(Protocol):
    async def get_many(self, keys: list[str]) -> list[Any]:
        """Values in key order; `MISS` where absent or expired."""
        ...

    async def set(self, key: str, value: dict[str, Any] | None, ttl_s: float) -> None: ...

    async def delete(self, keys: list[str]) -> None: ...


class MemoryCustomerCache:
    """Bounded LRU with per-entry expiry, for a single process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()

    async def get_many(self, keys: list[str]) -> list[Any]:
        now = time.monotonic()
        out: list[Any] = []
        for k in keys:
            hit = self._data.get(k)
            if hit is None or hit[0] <= now:
                self._data.pop(k, None)
                out.append(MISS)
            else:
                self._data.move_to_end(k)
                out.append(hit[1])
        return out

    async def set(self, key: str, value: dict[str, Any] | None, ttl_s: float) -> None:
        self._data[key] = (time.monotonic() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def delete(self, keys: list[str]) -> None:
        for k in keys:
            self._data.pop(k, None)


class RedisCustomerCache:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        try:
            raw = await self.redis.mget(keys)
        except Exception as exc:
            log.warning(
                "CRM customer cache read failed (%s); treating as a miss", type(exc).__name__
            )
            return [MISS] * len(keys)
        return [MISS if r is None else orjson.loads(r)["c"] for r in raw]

    async def set(self, key: str, value: dict[str, Any] | None, ttl_s: float) -> None:
        try:
            await self.redis.set(key, orjson.dumps({"c": value}), px=max(1, int(ttl_s * 1000)))
        except Exception as exc:
            log.warning("CRM customer cache write failed (%s)", type(exc).__name__)

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self.redis.delete(*keys)
