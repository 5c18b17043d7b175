"""API key verification with an in-process cache, and last-used times written in batches.

The hot path costs no database round trip: a key's row is read once and trusted for
`API_KEY_CACHE_TTL_S` (so a revocation takes effect within that time; expiry is checked on
every request against the cached expiry). Concurrent first uses of one key share one read.
Last-used times are collected in memory and written every `API_KEY_TOUCH_INTERVAL_S` in one
statement (and at shutdown), never on a request's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from datetime import datetime

from conversation_service.adapters.database import Database
from conversation_service.adapters.db_errors import as_unavailable
from conversation_service.domain.api_keys import ApiKeyRecord, find_key, split_token
from conversation_service.domain.clock import utcnow
from conversation_service.domain.errors import Unauthenticated
from conversation_service.domain.identity import SERVICE_TENANT, Principal

log = logging.getLogger(__name__)

#: keys (and unknown ids) remembered at once; the least recently used are forgotten
MAX_CACHED = 10_000
INVALID = "invalid, expired or revoked API key"


class ApiKeys:
    def __init__(
        self, db: Database, *, ttl_s: float, touch_interval_s: float, max_cached: int = MAX_CACHED
    ) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._touch_interval_s = touch_interval_s
        self._max_cached = max_cached
        #: key id -> (row or None for an unknown id, monotonic time it was read)
        self._cache: OrderedDict[str, tuple[ApiKeyRecord | None, float]] = OrderedDict()
        self._reading: dict[str, asyncio.Future[ApiKeyRecord | None]] = {}
        self._used: dict[str, datetime] = {}
        self._toucher: asyncio.Task[None] | None = None
        self.reads = 0  # database reads (tests and the benchmark watch it)

    async def verify(self, token: str) -> Principal:
        """The principal of a valid key (its tenant may be `*`); UNAUTHENTICATED otherwise."""
        parts = split_token(token)
        if parts is None:
            raise Unauthenticated(INVALID)
        key_id, secret = parts
        record = await self._lookup(key_id)
        now = utcnow()
        if record is None or not record.matches(secret) or not record.usable_at(now):
            raise Unauthenticated(INVALID)
        self._used[key_id] = now
        return record.principal()

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached rows (one key, or all): the next use reads the table again."""
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(key_id, None)

    async def _lookup(self, key_id: str) -> ApiKeyRecord | None:
        hit = self._cache.get(key_id)
        if hit is not None and time.monotonic() - hit[1] < self._ttl_s:
            self._cache.move_to_end(key_id)
            return hit[0]
        pending = self._reading.get(key_id)
        if pending is None:
            pending = asyncio.ensure_future(self._read(key_id))
            self._reading[key_id] = pending
            pending.add_done_callback(lambda _f: self._reading.pop(key_id, None))
        return await asyncio.shield(pending)

    async def _read(self, key_id: str) -> ApiKeyRecord | None:
        try:
            record = await self._db.query(SERVICE_TENANT, find_key, key_id)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise
        self.reads += 1
        self._cache[key_id] = (record, time.monotonic())
        self._cache.move_to_end(key_id)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return record

    # last-used times --------------------------------------------------------------------
    def start(self) -> None:
        if self._toucher is None and self._touch_interval_s > 0:
            self._toucher = asyncio.create_task(self._touch_loop(), name="api-key-last-used")

    async def stop(self) -> None:
        task, self._toucher = self._toucher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    async def flush(self) -> None:
        """Write the last-used times collected since the previous flush (one statement)."""
        used, self._used = self._used, {}
        if not used:
            return
        try:
            async with self._db(SERVICE_TENANT) as uow:
                await uow.api_keys.touch(used)
                await uow.commit()
        except Exception:  # a best-effort record: keep the newest times for the next flush
            log.warning("writing API keys' last-used times failed", exc_info=True)
            for key_id, at in used.items():
                if key_id not in self._used or self._used[key_id] < at:
                    self._used[key_id] = at

    async def _touch_loop(self) -> None:
        while True:
            await asyncio.sleep(self._touch_interval_s)
            await self.flush()
