"""Per-tenant rate limits (`RATE_LIMIT`, `TENANT_LIMITS`) on the `limits` library.

One limit per tenant counts every HTTP request (GraphQL and REST), every WebSocket connect and
every WebSocket operation. Storage is `limits`' async Redis storage when `REDIS_URL` is set (one
counter per tenant shared by every instance, on the container's Redis connection pool), its
in-memory storage otherwise.

Strategy: fixed window. Measured per check (`bench/rate_limit_bench.py` measures it):
in memory, fixed window stays at 14-20 us per check however many hits the window holds, while the
moving window keeps one entry per hit and inserts at the front of a list, so its cost grows with
the hits in the window (24 us for the first 20,000 hits of a 1,000,000/minute window, 63 us for
hits 60,000-80,000), and its Redis list holds up to `limit` entries per tenant. On Redis both are
one script call (one round trip); fixed window keeps one integer key per tenant. The price is the
known edge effect of fixed windows (up to twice the limit across a window boundary), acceptable
for abuse protection.

Round trips: an accepted request costs one (`limits`' increment-and-expire script). The first
refusal of a window costs one more (the window's remaining time, for `retryAfter`); it is kept
locally, so every later refusal of that tenant in that window is answered with no Redis call at
all (a burst above the limit costs Redis nothing). Redis unreachable: requests pass (a limiter
outage must not stop the service) and a warning is logged at most once a minute.

Keys carry the tenant as their hash tag (`LIMITER/{acme}/100/1/second`). On a Redis Cluster
(`redis+cluster://` in `REDIS_URL`) the storage is `limits`' own cluster storage, which reads the
same URL form; each check touches one key, so one master.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from conversation_service.adapters.redis_client import is_cluster, parse_cluster_url, tagged

log = logging.getLogger(__name__)

#: What is being counted (all kinds share the tenant's one limit; the kind names the refusal).
Kind = Literal["http", "ws_connect", "ws_subscribe"]

KEY_PREFIX = "conversation-service:rate"
_WARN_EVERY_S = 60.0
_MAX_REFUSED_CACHE = 10_000


@dataclass(frozen=True)
class RetryAfter:
    """A refusal: wait `seconds` (an integer >= 1) before the tenant's next request."""

    seconds: int
    limit: str

    @property
    def message(self) -> str:
        return f"Rate limit of {self.limit} for this tenant exceeded; retry after {self.seconds} s"


def parse_limit(value: str) -> RateLimitItem:
    """`limits`' string syntax (`100/second`, `1000 per minute`); a bad one raises ValueError."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"must be a rate limit such as '100/second', got {value!r}") from exc


class RateLimiter:
    """`check(tenant, kind)` for every door; one instance per process (in the container)."""

    def __init__(
        self,
        default: str,
        overrides: Mapping[str, str] | None = None,
        *,
        redis: Any = None,
        redis_url: str | None = None,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self._default = parse_limit(default)
        self._overrides = {t: parse_limit(v) for t, v in (overrides or {}).items()}
        self._key_prefix = key_prefix
        self._storage: Storage
        if redis_url and is_cluster(redis_url):
            self._storage = _cluster_storage(redis_url, key_prefix)
        elif redis_url:
            options: dict[str, Any] = {}
            if redis is not None:
                options["connection_pool"] = redis.connection_pool
            self._storage = RedisStorage(
                "async+" + redis_url, implementation="redispy", key_prefix=key_prefix, **options
            )
        else:
            self._storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._refused_until: dict[str, float] = {}
        self._warned_at = -math.inf
        self.refusals: Counter[str] = Counter()

    @property
    def storage_name(self) -> str:
        return "redis" if isinstance(self._storage, RedisStorage) else "memory"

    def limit_for(self, tenant: str) -> RateLimitItem:
        return self._overrides.get(tenant, self._default)

    def storage_key(self, tenant: str) -> str:
        """The Redis key of `tenant`'s current counter (operators, tests)."""
        return f"{self._key_prefix}:{self.limit_for(tenant).key_for(tagged(tenant))}"

    async def check(self, tenant: str, kind: Kind) -> RetryAfter | None:
        """Count one request of `tenant`; None when it may proceed, else how long to wait."""
        item = self.limit_for(tenant)
        now = time.time()
        until = self._refused_until.get(tenant)
        if until is not None:
            if now < until:
                return self._refuse(item, until - now, kind)
            del self._refused_until[tenant]
        try:
            if await self._limiter.hit(item, tagged(tenant)):
                return None
            reset = await self._reset_at(item.key_for(tagged(tenant)))
        except Exception as exc:  # a limiter outage lets requests through
            if now - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = now
                log.warning("rate limit storage unavailable, not limiting: %s", exc)
            return None
        if len(self._refused_until) >= _MAX_REFUSED_CACHE:
            self._refused_until = {t: u for t, u in self._refused_until.items() if u > now}
        self._refused_until[tenant] = reset
        # From the clock the reset was computed with (the round trips since `now` would push
        # a fresh 60 s window to 61), and never more than one window.
        return self._refuse(item, reset - time.time(), kind)

    def _refuse(self, item: RateLimitItem, remaining: float, kind: Kind) -> RetryAfter:
        self.refusals[kind] += 1
        seconds = min(math.ceil(remaining), item.get_expiry())
        return RetryAfter(max(1, seconds), str(item))

    async def _reset_at(self, key: str) -> float:
        """When the window of `key` ends. `limits`' own `get_expiry` reads Redis `TTL` in whole
        seconds (0 for the last second of a 1-second window), so Redis asks `PTTL` instead."""
        if isinstance(self._storage, RedisStorage):
            bridge: Any = self._storage.bridge  # RedispyBridge: `get_connection` is its own
            ms = await bridge.get_connection().pttl(bridge.prefixed_key(key))
            return time.time() + max(int(ms), 0) / 1000
        return float(await self._storage.get_expiry(key))

    async def clear(self, tenant: str) -> None:
        """Forget `tenant`'s window (tests, operators)."""
        self._refused_until.pop(tenant, None)
        await self._limiter.clear(self.limit_for(tenant), tagged(tenant))


def _cluster_storage(url: str, key_prefix: str) -> RedisClusterStorage:
    """`limits`' cluster storage for our `redis[s]+cluster://` URL (it names the scheme
    `async+redis+cluster` and takes TLS as an option)."""
    parsed = parse_cluster_url(url)
    nodes = ",".join(f"{host}:{port}" for host, port in parsed.nodes)
    options: dict[str, Any] = {"ssl": True} if parsed.scheme == "rediss" else {}
    return RedisClusterStorage(
        f"async+redis+cluster://{parsed.userinfo}{nodes}",
        implementation="redispy",
        key_prefix=key_prefix,
        **options,
    )
