"""The consumer loop: batched XREADGROUP, own-pending recovery, XAUTOCLAIM of dead consumers'
entries, per-conversation ordering, bounded concurrency, retries with backoff, dead letters, and
the reply + XACK sent atomically (one script, `settle.py`) only after the database commit.

On a Redis Cluster every command here names one stream (one slot), except the XREADGROUP over
several streams: streams of different slots are read by one loop each (`read_groups`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from conversation_service.adapters.database import Database
from conversation_service.adapters.redis_client import slot_of
from conversation_service.config import Settings
from conversation_service.observability.metrics import (
    WORKER_ACTION_SECONDS,
    WORKER_ACTIONS,
    action_type_label,
)
from conversation_service.observability.tracing import Tracing
from conversation_service.worker.actions import default_registry
from conversation_service.worker.envelope import DomainAction, MalformedEntry, parse_entry
from conversation_service.worker.ordering import (
    KeyCache,
    id_key,
    keys_for,
    pending_upto,
    text,
)
from conversation_service.worker.processor import Outcome, Processor
from conversation_service.worker.registry import Registry, ordering_key
from conversation_service.worker.replies import (
    Unanswerable,
    build_raw_error_reply,
    build_reply,
    processing_error,
    validation_error,
)
from conversation_service.worker.settle import ReplyFailed, Settlement, settler_for
from conversation_service.worker.streams import StreamNames

log = logging.getLogger(__name__)

DEAD_MAXLEN = 100_000


@dataclass(eq=False, slots=True)
class Entry:
    stream: str
    id: str
    fields: dict[bytes, bytes] | None
    action: DomainAction | None = None
    malformed: MalformedEntry | None = None
    key: str | None = None
    deliveries: int = 1
    applying: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def order(self) -> tuple[int, int]:
        return id_key(self.id)


@dataclass(slots=True)
class Finish:
    """What to do with an entry once its outcome is known."""

    outcome: Outcome | None = None
    dead_reason: str | None = None
    dead_error_type: str | None = None
    attempts: int = 0
    unanswered: str | None = None  # why the caller gets no reply although it named a queue


class Worker:
    def __init__(
        self,
        db: Database,
        redis: Any,
        settings: Settings,
        registry: Registry | None = None,
        names: StreamNames | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.tracing = tracing or Tracing()
        #: per stream: the group's pending entries and lag (-1: unknown), from `_stats_loop`
        self.stream_stats: dict[str, dict[str, int]] = {}
        self.redis = redis
        self.settings = settings
        self.names = names or StreamNames.from_settings(settings)
        self.processor = Processor(db, registry or default_registry())
        self.capacity = max(1, settings.worker_batch_size) + max(1, settings.worker_concurrency)
        self._sem = asyncio.Semaphore(max(1, settings.worker_concurrency))
        self._held: dict[str, dict[str, Entry]] = {s: {} for s in self.names.streams}
        self._tasks: dict[asyncio.Task[None], Entry] = {}
        self._slot = asyncio.Event()
        self._stopping = asyncio.Event()
        self._released: dict[str, asyncio.Event] = {}  # ordering key -> woken on release
        self._loops: list[asyncio.Task[None]] = []
        self._keys = KeyCache()
        self._settler = settler_for(
            redis, self.names.dead, self.names.released, settings.worker_reply_ttl_s, DEAD_MAXLEN
        )
        self.read_groups = read_groups(self.names.streams, isinstance(redis, RedisCluster))
        self._reserved = 0  # room taken by reads under way (one per read group)
        self._recovering = len(self.read_groups)
        self.started = asyncio.Event()
        self.processed = 0  # entries finished (acknowledged) by this worker

    # ----------------------------------------------------------------- lifecycle
    @property
    def consumer(self) -> str:
        return self.names.consumer

    async def start(self) -> None:
        await self._ensure_groups()
        self._loops = [
            *(
                asyncio.create_task(self._read_loop(group), name="worker-read")
                for group in self.read_groups
            ),
            asyncio.create_task(self._claim_loop(), name="worker-claim"),
            asyncio.create_task(self._release_loop(), name="worker-release"),
            asyncio.create_task(self._stats_loop(), name="worker-stats"),
        ]
        # Own pending entries are scheduled before start() returns; a Redis outage here
        # must not hang the caller (the loops keep retrying on their own).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.started.wait(), 30)

    def stats(self) -> dict[str, int]:
        """In-process figures for metrics: entries being applied and entries held."""
        return {
            "in_flight": len(self._tasks),
            "held": sum(len(held) for held in self._held.values()),
        }

    async def _stats_loop(self, every_s: float = 5.0) -> None:
        """Refresh the group's pending count and lag per stream (XINFO GROUPS) for metrics."""
        while not self._stopping.is_set():
            for stream in self.names.streams:
                with contextlib.suppress(RedisError, OSError):
                    for group in await self.redis.xinfo_groups(stream):
                        name = group.get("name")
                        if (name.decode() if isinstance(name, bytes) else name) == self.names.group:
                            lag = group.get("lag")
                            self.stream_stats[stream] = {
                                "pending": int(group.get("pending") or 0),
                                "lag": int(lag) if lag is not None else -1,
                            }
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every_s)

    async def stop(self) -> None:
        """Stop reading; let entries being applied finish (bounded by the grace period); entries
        not started stay pending in the group and are re-read or reclaimed later."""
        self._stopping.set()
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for task, entry in list(self._tasks.items()):
            if not entry.applying:
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.settings.worker_shutdown_grace_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Returns when a loop died (it should not) so the process can exit and restart."""
        await asyncio.wait(self._loops, return_when=asyncio.FIRST_COMPLETED)

    # ----------------------------------------------------------------- reading
    async def _ensure_groups(self) -> None:
        for stream in self.names.streams:
            try:
                await self.redis.xgroup_create(stream, self.names.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _backoff(self, attempt: int) -> None:
        base = self.settings.worker_retry_base_ms / 1000
        delay = min(self.settings.worker_retry_max_ms / 1000, base * 2 ** max(0, attempt - 1))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _room(self) -> int:
        while self._in_hand() >= self.capacity:
            self._slot.clear()
            await self._slot.wait()
        return self.capacity - self._in_hand()

    def _in_hand(self) -> int:
        return sum(len(h) for h in self._held.values()) + self._reserved

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[int]:
        """Room for one read, reserved until its entries are in hand (several read loops)."""
        room = min(await self._room(), self.settings.worker_batch_size)
        self._reserved += room
        try:
            yield room
        finally:
            self._reserved -= room
            self._slot.set()

    async def _recover_own(self, streams: tuple[str, ...]) -> None:
        """Entries this consumer name received before a crash (XREADGROUP from id 0)."""
        for stream in streams:
            last = "0"
            while not self._stopping.is_set():
                async with self._reading() as room:
                    resp = await self.redis.xreadgroup(
                        self.names.group, self.consumer, {stream: last}, count=room
                    )
                    entries = _entries_of(resp).get(stream, [])
                    if not entries:
                        break
                    last = text(entries[-1][0])
                    await self._schedule(stream, entries)

    async def _read_loop(self, streams: tuple[str, ...]) -> None:
        attempt = 0
        recovered = False
        while not self._stopping.is_set():
            try:
                if not recovered:
                    await self._recover_own(streams)
                    recovered = True
                    self._recovering -= 1
                    if self._recovering == 0:
                        self.started.set()
                async with self._reading() as room:
                    resp = await self.redis.xreadgroup(
                        self.names.group,
                        self.consumer,
                        dict.fromkeys(streams, ">"),
                        count=room,
                        block=self.settings.worker_block_ms,
                    )
                    attempt = 0
                    for stream, entries in _entries_of(resp).items():
                        await self._schedule(stream, entries)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                attempt += 1
                log.warning("reading actions failed (%s); retrying", exc)
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(RedisError, OSError):
                        await self._ensure_groups()
                await self._backoff(attempt)

    async def _claim_loop(self) -> None:
        """Renew this consumer's hold on its entries (so no one reclaims live work) and take
        over entries idle for longer than `worker_claim_idle_ms` (their consumer died)."""
        idle = self.settings.worker_claim_idle_ms
        interval = min(5.0, max(0.05, idle / 4000))
        await self.started.wait()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return
            try:
                await self._renew(idle)
                await self._reclaim(idle)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("claiming actions failed (%s); retrying", exc)

    async def _release_loop(self) -> None:
        """Wake this process's entries waiting on a key that another consumer just released."""
        while not self._stopping.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.names.released)
                while not self._stopping.is_set():
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    event = self._released.pop(text(msg["data"]), None)
                    if event is not None:
                        event.set()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("order notifications failed (%s); polling meanwhile", exc)
                await self._backoff(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _renew(self, idle: int) -> None:
        for stream, held in self._held.items():
            if held:
                await self.redis.xclaim(
                    stream, self.names.group, self.consumer, idle // 2, list(held), justid=True
                )

    async def _reclaim(self, idle: int) -> None:
        """Take over entries idle in a dead consumer's pending list, oldest first.

        Not gated by this worker's room: the dead consumer's entries are the earliest pending
        entries of their conversations, so whatever this worker holds of those conversations
        waits for them, and a full pair of hands that skipped reclaiming waited forever (two
        workers, one killed mid-batch: 230/800 applied after 100 s). The extra hold is bounded:
        entries enter the group's pending list only through a consumer's room-gated read, so
        what can be reclaimed is at most the dead consumers' own capacities."""
        for stream in self.names.streams:
            start = "0-0"
            for _ in range(10):
                if self._stopping.is_set():
                    return
                resp = await self.redis.xautoclaim(
                    stream,
                    self.names.group,
                    self.consumer,
                    idle,
                    start,
                    count=max(1, self.settings.worker_batch_size),
                )
                nxt, claimed = text(resp[0]), resp[1]
                if claimed:
                    log.info("reclaimed %d idle action(s) from %s", len(claimed), stream)
                    await self._schedule(stream, claimed)
                if nxt == "0-0":
                    break
                start = nxt

    # ----------------------------------------------------------------- scheduling
    async def _schedule(self, stream: str, raw: list[Any]) -> None:
        held = self._held[stream]
        fresh: list[Entry] = []
        for entry_id, fields in raw:
            eid = text(entry_id)
            if eid in held:
                continue
            entry = Entry(stream, eid, fields)
            if fields:
                try:
                    entry.action = parse_entry(fields)
                    entry.key = ordering_key(entry.action)
                except MalformedEntry as exc:
                    entry.malformed = exc
                self._keys.put(stream, eid, entry.key)
            held[eid] = entry  # registered before any await: the ordering check relies on it
            fresh.append(entry)
        if not fresh:
            return
        blockers: dict[str, str | None] | None = None
        try:
            upto = max(fresh, key=lambda e: e.order).id
            pending = await pending_upto(self.redis, stream, self.names.group, upto)
            deliveries = {p.id: p.deliveries for p in pending if p.consumer == self.consumer}
            for e in fresh:
                e.deliveries = max(1, deliveries.get(e.id, 1))
            blockers = await self._blockers(stream, pending)
        except (RedisError, OSError) as exc:
            log.warning("ordering scan failed (%s); entries re-check on their own", exc)
        for e in fresh:
            task = asyncio.create_task(self._run(e, blockers))
            self._tasks[task] = e

    async def _blockers(self, stream: str, pending: list[Any]) -> dict[str, str | None]:
        """Pending entries that this process is not working on (other consumers', or ours not
        yet registered): id -> ordering key."""
        held = self._held[stream]
        ids = [p.id for p in pending if p.consumer != self.consumer or p.id not in held]
        if not ids:
            return {}
        keys = await keys_for(self.redis, stream, ids, self._keys)
        held = self._held[stream]
        return {i: k for i, k in keys.items() if i not in held}

    async def _wait_turn(self, e: Entry, blockers: dict[str, str | None] | None) -> None:
        """Returns when every earlier entry of e's key, here or at another consumer, is done."""
        foreign_clear = False
        delay = self.settings.worker_order_poll_ms / 1000
        while True:
            earlier = [
                o
                for o in self._held[e.stream].values()
                if o is not e and o.key == e.key and o.order < e.order and not o.done.is_set()
            ]
            if earlier:
                await min(earlier, key=lambda o: o.order).done.wait()
                continue
            if foreign_clear:
                return
            if blockers is None:
                try:
                    pending = await pending_upto(self.redis, e.stream, self.names.group, e.id)
                    blockers = await self._blockers(e.stream, pending)
                except (RedisError, OSError) as exc:
                    log.warning("ordering scan failed (%s)", exc)
                    blockers = {"?": e.key}  # unknown: wait and retry
            blocked = any(
                k == e.key and (i == "?" or id_key(i) < e.order) for i, k in blockers.items()
            )
            blockers = None
            if not blocked:
                foreign_clear = True
                continue
            # Woken when another consumer releases this key (pub/sub); polling is the fallback
            # because pub/sub may drop a notice.
            released = self._released.setdefault(e.key or "", asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), delay)
            delay = min(4 * self.settings.worker_order_poll_ms / 1000, delay * 2)

    # ----------------------------------------------------------------- processing
    async def _run(self, e: Entry, blockers: dict[str, str | None] | None) -> None:
        try:
            if e.fields is None:  # deleted from the stream while pending: nothing to apply
                await self._finish(e, Finish())
                return
            if e.action is None:
                reason = e.malformed.reason if e.malformed else "malformed entry"
                await self._finish(e, Finish(dead_reason=reason, dead_error_type="MalformedEntry"))
                return
            if e.key is not None:
                await self._wait_turn(e, blockers)
            await self._finish(e, await self._apply(e))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("action entry %s on %s failed unexpectedly; retrying", e.id, e.stream)
            retry = True
        else:
            retry = False
        finally:
            e.done.set()
            self._held[e.stream].pop(e.id, None)
            self._tasks.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._slot.set()
        if retry and not self._stopping.is_set():
            # Still pending here: schedule it again rather than let it block its key.
            await self._backoff(e.deliveries)
            if not self._stopping.is_set():
                e.deliveries += 1
                with contextlib.suppress(RedisError, OSError):
                    await self._schedule(e.stream, [(e.id, e.fields)])

    async def _apply(self, e: Entry) -> Finish:
        assert e.action is not None
        action = e.action
        max_attempts = max(1, self.settings.worker_max_attempts)
        attempt = e.deliveries - 1
        last_error = f"delivered {e.deliveries} times without completing"
        kind = action_type_label(action.action_type)
        while attempt < max_attempts:
            attempt += 1
            try:
                async with self._sem:
                    if self._stopping.is_set():
                        raise asyncio.CancelledError  # stopping: not started, stays pending
                    e.applying = True
                    started = time.perf_counter()
                    with self.tracing.action_span(action.action_type, action.trace_id):
                        outcome = await self.processor.apply(action, e.id)
                    WORKER_ACTION_SECONDS.labels(kind).observe(time.perf_counter() - started)
                WORKER_ACTIONS.labels(kind, "ok" if outcome.error is None else "rejected").inc()
                return Finish(outcome=outcome, attempts=attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                WORKER_ACTIONS.labels(kind, "retried").inc()
                last_error = f"{type(exc).__name__}: {exc}"[:2000]
                log.warning(
                    "action %s (%s) attempt %d/%d failed: %s",
                    action.action_id,
                    action.action_type,
                    attempt,
                    max_attempts,
                    last_error,
                )
            finally:
                e.applying = False
            if attempt < max_attempts:
                await self._backoff(attempt)
                if self._stopping.is_set():
                    raise asyncio.CancelledError
        log.error("action %s goes to the dead-letter stream: %s", action.action_id, last_error)
        WORKER_ACTIONS.labels(kind, "dead_letter").inc()
        return Finish(
            outcome=Outcome(None, processing_error()),
            dead_reason=last_error,
            dead_error_type="ProcessingError",
            attempts=attempt,
        )

    def _dead_fields(self, e: Entry, f: Finish) -> dict[str, str]:
        a = e.action
        out = {
            "data": (e.fields or {}).get(b"data", b"").decode("utf-8", "replace"),
            "error": f.dead_reason or "",
            "error_type": f.dead_error_type or "",
            "delivery_count": str(e.deliveries),
            "attempts": str(f.attempts),
            "stream": e.stream,
            "entry_id": e.id,
            "consumer": self.consumer,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        if f.unanswered is not None:
            out["reply"] = f.unanswered
        if a is not None:
            out["action_id"] = a.action_id
            out["action_type"] = a.action_type
            out["tenant_id"] = a.tenant_id
        return out

    def _plan(self, e: Entry, f: Finish) -> tuple[tuple[str, bytes] | None, dict[str, str] | None]:
        reply = None
        if e.action is not None and f.outcome is not None:
            o = f.outcome
            reply = build_reply(e.action, o.data, o.error)
            if (
                o.error is not None
                and f.dead_reason is None
                and reply is None
                and o.known_type
                and not o.duplicate
            ):
                # A fire-and-forget action rejected by a rule: nobody hears the answer, so it
                # is kept in the dead-letter stream instead of vanishing.
                f.dead_reason = f"{o.error.error_code}: {o.error.message}"
                f.dead_error_type = o.error.error_type
            if o.error is not None and not o.known_type:
                log.warning("unknown action type %r acknowledged", e.action.action_type)
        elif e.malformed is not None and e.malformed.raw is not None:
            try:
                reply = build_raw_error_reply(e.malformed.raw, validation_error(e.malformed.reason))
            except Unanswerable as exc:
                f.unanswered = str(exc)
                log.warning(
                    "action entry %s on %s goes to the dead-letter stream (%s), %s",
                    e.id,
                    e.stream,
                    f.dead_reason,
                    f.unanswered,
                )
        dead = self._dead_fields(e, f) if f.dead_reason is not None else None
        return reply, dead

    async def _finish(self, e: Entry, f: Finish) -> None:
        """Reply, dead-letter and XACK in one atomic step: all happen or none (a redelivery then
        finds the ledger record and sends the same answer). A reply the queue refuses is retried
        with the handlers' budget (attempts and backoff), then the entry is dead-lettered without
        it: the effect is committed and kept, and later actions of its key wait no longer."""
        reply, dead = self._plan(e, f)
        attempt = 0
        reply_attempts = 0
        max_attempts = max(1, self.settings.worker_max_attempts)
        while True:
            try:
                await self._settler.settle(
                    Settlement(e.stream, e.id, self.names.group, e.key, reply, dead)
                )
                self.processed += 1
                return
            except ReplyFailed as exc:
                assert reply is not None
                reply_attempts += 1
                reason = f"reply to {reply[0]} failed: {exc}"[:2000]
                if reply_attempts >= max_attempts:
                    log.error("action entry %s goes to the dead-letter stream: %s", e.id, reason)
                    f.dead_reason = f"{f.dead_reason}; {reason}" if f.dead_reason else reason
                    f.dead_error_type = f.dead_error_type or "ReplyFailed"
                    f.attempts = reply_attempts
                    dead = {**self._dead_fields(e, f), "reply_queue": reply[0]}
                    reply = None
                    continue
                log.warning(
                    "action entry %s attempt %d/%d: %s", e.id, reply_attempts, max_attempts, reason
                )
                await self._backoff(reply_attempts)
                if self._stopping.is_set():
                    return  # still pending: redelivered later, answered from the ledger
            except (RedisError, OSError) as exc:
                attempt += 1
                if self._stopping.is_set():
                    log.warning("could not acknowledge %s while stopping (%s)", e.id, exc)
                    return
                log.warning("acknowledging %s failed (%s); retrying", e.id, exc)
                await self._backoff(attempt)


def read_groups(streams: tuple[str, ...], cluster: bool) -> list[tuple[str, ...]]:
    """Streams one XREADGROUP may read together: all of them on one server, those of one hash
    slot on a cluster (a multi-key command must stay in one slot)."""
    if not cluster:
        return [streams]
    by_slot: dict[int, list[str]] = {}
    for stream in streams:
        by_slot.setdefault(slot_of(stream), []).append(stream)
    return [tuple(group) for group in by_slot.values()]


def _entries_of(resp: Any) -> dict[str, list[Any]]:
    """XREADGROUP's reply (RESP2 list or RESP3 dict) as {stream: [(id, fields), ...]}."""
    if not resp:
        return {}
    if isinstance(resp, dict):
        return {text(k): (v[0] if v and isinstance(v[0], list) else v) for k, v in resp.items()}
    return {text(stream): entries for stream, entries in resp}
