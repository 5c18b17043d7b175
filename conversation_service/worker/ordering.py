"""Order per conversation across consumers.

A consumer group hands entries out in stream order, but to several consumers at once: entry 7 of a
conversation may reach worker B while entry 5 of the same conversation is still pending at worker
A (in flight, or left behind by a crash). The rule: an entry is applied only when no earlier entry
of the same ordering key is still pending in the group, whoever holds it. "Pending" is the group's
own pending entries list (PEL), which XREADGROUP updates atomically with delivery, so no earlier
entry can be missed: every entry before this one was delivered before it, and leaves the PEL only
when it is acknowledged, i.e. after its commit. Entries of other consumers are identified by
reading their content (XRANGE, cached: entries are immutable).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from conversation_service.worker.envelope import MalformedEntry, parse_entry
from conversation_service.worker.registry import ordering_key

PAGE = 1000


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(slots=True)
class PendingEntry:
    id: str
    consumer: str
    deliveries: int


class KeyCache:
    """Ordering keys of entries by id (bounded; an entry's content never changes)."""

    def __init__(self, size: int = 20_000) -> None:
        self._keys: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._size = size

    def get(self, stream: str, entry_id: str) -> tuple[bool, str | None]:
        k = (stream, entry_id)
        if k in self._keys:
            return True, self._keys[k]
        return False, None

    def put(self, stream: str, entry_id: str, key: str | None) -> None:
        self._keys[(stream, entry_id)] = key
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)


def key_of(fields: dict[bytes, bytes] | None) -> str | None:
    if not fields:
        return None
    try:
        return ordering_key(parse_entry(fields))
    except MalformedEntry:
        return None


async def pending_upto(redis: Any, stream: str, group: str, upto: str) -> list[PendingEntry]:
    """Every pending entry of the group with an id <= upto (paged)."""
    out: list[PendingEntry] = []
    start = "-"
    while True:
        page = await redis.xpending_range(stream, group, min=start, max=upto, count=PAGE)
        for p in page:
            out.append(
                PendingEntry(text(p["message_id"]), text(p["consumer"]), int(p["times_delivered"]))
            )
        if len(page) < PAGE:
            return out
        start = "(" + out[-1].id


async def keys_for(
    redis: Any, stream: str, ids: list[str], cache: KeyCache
) -> dict[str, str | None]:
    """Ordering keys of the given entries, reading the unknown ones in one pipeline."""
    out: dict[str, str | None] = {}
    missing: list[str] = []
    for i in ids:
        known, key = cache.get(stream, i)
        if known:
            out[i] = key
        else:
            missing.append(i)
    if missing:
        pipe = redis.pipeline(transaction=False)
        for i in missing:
            pipe.xrange(stream, min=i, max=i, count=1)
        results = await pipe.execute()
        for i, rows in zip(missing, results, strict=True):
            key = key_of(rows[0][1]) if rows else None
            cache.put(stream, i, key)
            out[i] = key
    return out
