"""The end of an entry in one atomic step: the reply, the dead letter, the XACK and the release
notice all happen, or none does (then a redelivery finds the ledger record and answers the same).

A Lua script rather than MULTI: a MULTI does not stop at a failing command, so a reply queue that
is a key of another type (WRONGTYPE) failed the LPUSH while the XACK after it went through, and
the error looked like a lost connection (retried forever). The script makes every check before its
first write (a script that fails half-way keeps what it wrote) and answers `REPLYFAILED` when the
reply cannot be pushed, so the caller can tell "this reply cannot be delivered" (retry within the
attempt budget, then dead-letter) from "Redis is unreachable" (retry until it is back). One round
trip, like the MULTI it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

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


class ReplyFailed(Exception):
    """The reply queue refused the reply (e.g. WRONGTYPE: the key holds another type)."""
