"""The end of an entry in one atomic step: the reply, the dead letter, the XACK and the release
notice all happen, or none does (then a redelivery finds the ledger record and answers the same).

A Lua script rather than MULTI: a MULTI does not stop at a failing command, so a reply queue that
is a key of another type (WRONGTYPE) failed the LPUSH while the XACK after it went through, and
the error looked like a lost connection (retried forever). The script makes every check before its
first write (a script that fails half-way keeps what it wrote) and answers `REPLYFAILED` when the
reply cannot be pushed, so the caller can tell "this reply cannot be delivered" (retry within the
attempt budget, then dead-letter) from "Redis is unreachable" (retry until it is back). One round
trip, like the MULTI it replaces.

On a Redis Cluster one script cannot do this: the stream, the dead-letter stream and the
caller's reply queue are three keys of three slots, and their names are the nooble4 protocol's
(the reply queue is the caller's choice), so no hash tag can bring them together. There the end
is three steps in a fixed order, each one atomic on its own master and each write done once
(`ClusterSettler`): the reply (LPUSH + EXPIRE, and a marker key in the queue's slot saying this
entry was answered), then the dead letter (XADD and its marker in the dead stream's slot), then
the XACK. A crash between steps leaves the entry pending; its redelivery finds the ledger record,
builds the same answer, and the markers stop the reply and the dead letter from being written a
second time, so the caller still sees one answer and the XACK still comes last. What differs
from one server: a reply can be visible for a moment before its entry is acknowledged, and a
reply that was pushed stays pushed if the dead letter after it keeps failing (the retries do
not push it again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from conversation_service.adapters.redis_client import same_slot_name

REPLY_FAILED = "REPLYFAILED"

# Every check comes before the first write: a script that fails half-way keeps its earlier writes.
_SCRIPT = """
if #ARGV > 7 then
  local kind = redis.call('TYPE', KEYS[2])['ok']
  if kind ~= 'stream' and kind ~= 'none' then
    return redis.error_reply('DEADLETTERFAILED the dead-letter key holds a ' .. kind)
  end
end
if KEYS[3] then
  local pushed = redis.pcall('LPUSH', KEYS[3], ARGV[5])
  if type(pushed) == 'table' and pushed.err then
    return redis.error_reply('REPLYFAILED ' .. pushed.err)
  end
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
if #ARGV > 7 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', unpack(ARGV, 8))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Settlement:
    stream: str
    entry_id: str
    group: str
    key: str | None  # ordering key to announce as released, if any
    reply: tuple[str, bytes] | None  # (queue, payload) to LPUSH
    dead: dict[str, str] | None  # fields of the dead-letter entry


class Settler:
    def __init__(
        self, redis: Any, dead_stream: str, released: str, reply_ttl_s: int, dead_maxlen: int
    ) -> None:
        self._script = redis.register_script(_SCRIPT)
        self._dead = dead_stream
        self._released = released
        self._ttl = str(reply_ttl_s)
        self._maxlen = str(dead_maxlen)

    async def settle(self, s: Settlement) -> None:
        """Raises ReplyFailed when the reply cannot be pushed (nothing was written then);
        RedisError/OSError when Redis could not be reached."""
        keys = [s.stream, self._dead]
        if s.reply is not None:
            keys.append(s.reply[0])
        args: list[str | bytes] = [
            s.group,
            s.entry_id,
            self._released,
            s.key or "",
            s.reply[1] if s.reply is not None else b"",
            self._ttl,
            self._maxlen,
        ]
        for name, value in (s.dead or {}).items():
            args += (name, value)
        try:
            await self._script(keys=keys, args=args)
        except ResponseError as exc:
            message = str(exc)
            if message.startswith(REPLY_FAILED):
                raise ReplyFailed(message[len(REPLY_FAILED) :].strip()) from None
            raise


# Cluster steps. A marker key is the second key when there is one (same slot as the first).
_REPLY_ONCE = """
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local pushed = redis.pcall('LPUSH', KEYS[1], ARGV[1])
if type(pushed) == 'table' and pushed.err then
  return redis.error_reply('REPLYFAILED ' .. pushed.err)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[2] then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
end
return 1
"""

_DEAD_ONCE = """
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'stream' and kind ~= 'none' then
  return redis.error_reply('DEADLETTERFAILED the dead-letter key holds a ' .. kind)
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if KEYS[2] then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
end
return 1
"""

# PUBLISH (not SPUBLISH): the release notice reaches the workers on every master.
_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
"""

#: How long a dead letter's marker is kept (a redelivery comes within the claim idle time).
DEAD_MARKER_TTL_S = 86_400


def marker(key: str, kind: str, stream: str, entry_id: str) -> str | None:
    """`key`'s marker for one entry, in `key`'s slot (None: `key`'s braces allow none)."""
    digest = hashlib.sha1(stream.encode()).hexdigest()[:12]
    return same_slot_name(key, f":cs-{kind}:{digest}:{entry_id}")


class ClusterSettler:
    """The end of an entry on a Redis Cluster: reply, dead letter, XACK, each once, in order."""

    def __init__(
        self, redis: Any, dead_stream: str, released: str, reply_ttl_s: int, dead_maxlen: int
    ) -> None:
        self._reply = redis.register_script(_REPLY_ONCE)
        self._dead_script = redis.register_script(_DEAD_ONCE)
        self._ack = redis.register_script(_ACK)
        self._dead = dead_stream
        self._released = released
        self._ttl = str(reply_ttl_s)
        self._maxlen = str(dead_maxlen)

    async def settle(self, s: Settlement) -> None:
        """As `Settler.settle`; a retry after any failure repeats no write already made."""
        if s.reply is not None:
            queue, payload = s.reply
            keys = [queue]
            if (mark := marker(queue, "replied", s.stream, s.entry_id)) is not None:
                keys.append(mark)
            try:
                await self._reply(keys=keys, args=[payload, self._ttl])
            except ResponseError as exc:
                message = str(exc)
                if message.startswith(REPLY_FAILED):
                    raise ReplyFailed(message[len(REPLY_FAILED) :].strip()) from None
                raise
        if s.dead is not None:
            keys = [self._dead]
            if (mark := marker(self._dead, "dead", s.stream, s.entry_id)) is not None:
                keys.append(mark)
            args: list[str | bytes] = [self._maxlen, str(DEAD_MARKER_TTL_S)]
            for name, value in s.dead.items():
                args += (name, value)
            await self._dead_script(keys=keys, args=args)
        await self._ack(keys=[s.stream], args=[s.group, s.entry_id, self._released, s.key or ""])


def settler_for(
    redis: Any, dead_stream: str, released: str, reply_ttl_s: int, dead_maxlen: int
) -> Settler | ClusterSettler:
    """One script on one server; ordered steps with markers on a cluster."""
    kind = ClusterSettler if isinstance(redis, RedisCluster) else Settler
    return kind(redis, dead_stream, released, reply_ttl_s, dead_maxlen)


class ReplyFailed(Exception):
    """The reply queue refused the reply (e.g. WRONGTYPE: the key holds another type)."""
