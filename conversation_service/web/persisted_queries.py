"""Automatic persisted queries, as Apollo's `PersistedQueryLink` speaks them.

A request carries `extensions.persistedQuery = {version: 1, sha256Hash}`. With the query too, the
hash is checked against it and the pair is stored; with the hash alone, the stored query is used,
or the request fails with `PersistedQueryNotFound` (`extensions.code PERSISTED_QUERY_NOT_FOUND`),
on which the client resends with the query. Documents are keyed by the hash of their own text, so
one store serves every tenant: knowing a hash is knowing the query, and no result is stored.

Stored in Redis when `REDIS_URL` is set (shared by every instance; each entry expires after
`APQ_TTL_S`), else in a bounded in-process LRU (`APQ_CACHE_SIZE` entries). Either way a document
over `APQ_MAX_QUERY_BYTES` is executed but not stored, so the store's size is bounded.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
KEY_PREFIX = "conversation_service:apq:"


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PersistedQueries:
    """Resolves a request's query from its `persistedQuery` extension, registering new ones."""

    def __init__(
        self,
        get_redis: Callable[[], Any],
        *,
        max_entries: int,
        ttl_s: int,
        max_query_bytes: int,
    ) -> None:
        self._get_redis = get_redis
        self._local: OrderedDict[str, str] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._max_query_bytes = max_query_bytes

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query to run: `query` itself when no hash is sent. Raises PersistedQueryError."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError("Unsupported persisted query version", "BAD_USER_INPUT")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _HASH_RE.match(digest):
            raise PersistedQueryError(
                "`persistedQuery.sha256Hash` must be 64 lowercase hex digits", "BAD_USER_INPUT"
            )
        if query is None:
            stored = await self._get(digest)
            if stored is None:
                raise PersistedQueryError(NOT_FOUND_MESSAGE, NOT_FOUND_CODE)
            return stored
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_USER_INPUT")
        if len(query.encode()) <= self._max_query_bytes:
            await self._put(digest, query)
        return query

    async def _get(self, digest: str) -> str | None:
        redis = self._get_redis()
        if redis is not None:
            try:
                raw = await redis.get(KEY_PREFIX + digest)
            except Exception as exc:  # the client resends the query: degraded, not broken
                log.warning("persisted query lookup failed: %r", exc)
                return None
            return raw.decode() if isinstance(raw, bytes) else raw
        query = self._local.get(digest)
        if query is not None:
            self._local.move_to_end(digest)
        return query

    async def _put(self, digest: str, query: str) -> None:
        redis = self._get_redis()
        if redis is not None:
            try:
                await redis.set(KEY_PREFIX + digest, query, ex=self._ttl_s)
            except Exception as exc:  # the query still runs; it is just not remembered
                log.warning("persisted query registration failed: %r", exc)
            return
        self._local[digest] = query
        self._local.move_to_end(digest)
        while len(self._local) > self._max_entries:
            self._local.popitem(last=False)
