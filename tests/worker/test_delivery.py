"""Delivery guarantees of the in-process worker: retries, dead letters, recovery of its own
pending entries, reclaim from dead consumers, per-conversation order under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from conversation_service.domain.commands import NewConversation
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.errors import NotFound
from conversation_service.domain.messages import list_messages
from conversation_service.domain.pagination import MessageWindow
from conversation_service.worker.actions import default_registry
from conversation_service.worker.registry import Call
from tests.worker.conftest import StartWorker, Wire, wait_for


async def _contents(db: Any, tenant: str, cid: str) -> list[str]:
    page = await list_messages(db, tenant, cid, MessageWindow(first=100))
    return [m.content for m in page.items]


async def _conversation(db: Any, tenant: str) -> str:
    record, _ = await create_conversation(db, tenant, NewConversation())
    return record.id


def _add(wire: Wire, cid: str, content: str) -> dict[str, Any]:
    return wire.action(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": content}
    )


async def test_poison_action_goes_to_dead_letter_after_max_attempts(
    wire: Wire, start_worker: StartWorker
) -> None:
    calls: list[str] = []

    async def explode(call: Call) -> dict[str, Any]:
        calls.append(call.action.action_id)
        raise RuntimeError("boom")

    registry = default_registry()
    registry.register("conversation.explode", explode)
    await start_worker(registry, worker_max_attempts=3)
    a = wire.pseudo_sync("conversation.explode", {"x": 1})
    await wire.send(a)
    reply = await wire.reply(a)
    assert reply["success"] is False
    assert reply["error"]["error_type"] == "ProcessingError"
    assert reply["error"]["error_code"] == "HANDLER_EXECUTION_ERROR"
    assert "boom" not in reply["error"]["message"]  # no internals in replies
    assert calls == [a["action_id"]] * 3
    await wire.drained()
    dead = await wire.dead_entries()
    assert len(dead) == 1
    assert dead[0]["action_id"] == a["action_id"]
    assert dead[0]["attempts"] == "3"
    assert dead[0]["delivery_count"] == "1"
    assert "RuntimeError: boom" in dead[0]["error"]


async def test_transient_failure_is_retried_and_applied_once(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    cid = await _conversation(db, tenant)
    failures = {"left": 2}
    registry = default_registry()
    real = registry.get("conversation.add_message")
    assert real is not None

    async def flaky(call: Call) -> dict[str, Any] | None:
        result = await real.handler(call)  # the effect happens, then the transaction fails
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("database went away")
        return result

    registry.register("conversation.add_message", flaky)
    await start_worker(registry)
    a = wire.pseudo_sync(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "once"}
    )
    await wire.send(a)
    reply = await wire.reply(a)
    assert reply["success"] is True
    assert reply["data"]["seq"] == 1
    assert await _contents(db, tenant, cid) == ["once"]
    assert failures["left"] == 0


async def test_rejected_fire_and_forget_is_kept_in_dead_letter(
    wire: Wire, start_worker: StartWorker
) -> None:
    await start_worker()
    a = _add(wire, str(uuid.uuid4()), "lost?")
    await wire.send(a)
    await wire.drained()
    dead = await wire.dead_entries()
    assert [d["action_id"] for d in dead] == [a["action_id"]]
    assert dead[0]["error"].startswith("NOT_FOUND")


async def test_own_pending_entries_are_reread_on_start(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, rds: Any
) -> None:
    cid = await _conversation(db, tenant)
    await rds.xgroup_create(wire.stream, wire.group, id="0", mkstream=True)
    for i in range(3):
        await wire.send(_add(wire, cid, f"m{i}"))
    # consumer "w-1" received them, then crashed before acknowledging
    got = await rds.xreadgroup(wire.group, "w-1", {wire.stream: ">"}, count=10)
    assert len(got[0][1]) == 3
    await start_worker(worker_consumer_name="w-1", worker_claim_idle_ms=60_000)
    await wire.drained()
    assert await _contents(db, tenant, cid) == ["m0", "m1", "m2"]


async def test_dead_consumer_entries_are_reclaimed_in_order(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, rds: Any
) -> None:
    cid = await _conversation(db, tenant)
    await rds.xgroup_create(wire.stream, wire.group, id="0", mkstream=True)
    await wire.send(_add(wire, cid, "first"))
    got = await rds.xreadgroup(wire.group, "dead-worker", {wire.stream: ">"}, count=1)
    assert len(got[0][1]) == 1
    for content in ("second", "third"):
        await wire.send(_add(wire, cid, content))
    # The live worker reads "second" and "third" first; it must not apply them before "first",
    # which a dead consumer holds, is reclaimed (XAUTOCLAIM after the idle time) and applied.
    await start_worker(worker_claim_idle_ms=300)
    await wire.drained()
    assert await _contents(db, tenant, cid) == ["first", "second", "third"]


async def test_order_per_conversation_under_concurrency(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    cids = [await _conversation(db, tenant) for _ in range(6)]
    for i in range(12):
        for cid in cids:
            await wire.send(_add(wire, cid, f"{cid[:4]}-{i}"))
    await start_worker(worker_concurrency=8, worker_batch_size=16)
    await wire.drained()
    for cid in cids:
        assert await _contents(db, tenant, cid) == [f"{cid[:4]}-{i}" for i in range(12)]


async def test_graceful_stop_finishes_or_returns_work(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, rds: Any
) -> None:
    cid = await _conversation(db, tenant)
    gate = asyncio.Event()
    entered = asyncio.Event()
    registry = default_registry()
    real = registry.get("conversation.add_message")
    assert real is not None

    async def slow(call: Call) -> dict[str, Any] | None:
        entered.set()
        await gate.wait()
        return await real.handler(call)

    registry.register("conversation.add_message", slow)
    worker = await start_worker(registry, worker_consumer_name="w-stop")
    for i in range(5):
        await wire.send(_add(wire, cid, f"s{i}"))
    await asyncio.wait_for(entered.wait(), 10)
    stopping = asyncio.create_task(worker.stop())
    await asyncio.sleep(0)
    gate.set()  # the action in flight completes during shutdown
    await asyncio.wait_for(stopping, 10)
    assert await _contents(db, tenant, cid) == ["s0"]
    (group,) = await rds.xinfo_groups(wire.stream)
    assert group["pending"] + group["lag"] == 4  # returned to the group or never read: not lost
    await start_worker(worker_consumer_name="w-stop")
    await wire.drained()
    assert await _contents(db, tenant, cid) == [f"s{i}" for i in range(5)]


async def test_not_found_is_a_typed_error() -> None:
    # NotFound maps to NOT_FOUND (the contract's code) in replies
    from conversation_service.worker.replies import domain_error

    err = domain_error(NotFound("conversation x not found"))
    assert (err.error_type, err.error_code) == ("NotFoundError", "NOT_FOUND")


async def test_duplicate_xadd_of_non_idempotent_add_takes_effect_once(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    cid = await _conversation(db, tenant)
    await start_worker()
    a = wire.pseudo_sync(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "one"}
    )
    await wire.send(a)
    first = await wire.reply(a)
    await wire.send(a)  # no client_message_id: only the ledger prevents a second message
    second = await wire.reply(a)
    assert first["data"] == second["data"]
    assert await _contents(db, tenant, cid) == ["one"]


async def test_worker_writes_reach_subscribers(
    wire: Wire, start_worker: StartWorker, container: Any, tenant: str
) -> None:
    from conversation_service.adapters.events import channel

    cid = await _conversation(container.db, tenant)
    await start_worker()
    async with container.broadcast.subscribe(channel(tenant, "message_added")) as sub:
        await wire.send(_add(wire, cid, "live"))
        event = await asyncio.wait_for(sub.get(), 10)
    assert event["kind"] == "message_added"
    assert event["data"]["message"]["content"] == "live"
    assert event["data"]["message"]["conversation_id"] == cid


async def test_full_hands_still_reclaim_the_dead_consumers_entries(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, rds: Any
) -> None:
    """Every entry this worker can hold waits behind the dead consumer's entry: reclaiming it
    anyway is the only way forward."""
    cid = await _conversation(db, tenant)
    await rds.xgroup_create(wire.stream, wire.group, id="0", mkstream=True)
    await wire.send(_add(wire, cid, "m0"))
    got = await rds.xreadgroup(wire.group, "dead-worker", {wire.stream: ">"}, count=1)
    assert len(got[0][1]) == 1
    for i in range(1, 12):
        await wire.send(_add(wire, cid, f"m{i}"))
    w = await start_worker(worker_claim_idle_ms=300, worker_batch_size=2, worker_concurrency=1)
    assert w.capacity == 3  # far fewer than the entries waiting behind "m0"
    await wire.drained(wait_s=10)
    assert await _contents(db, tenant, cid) == [f"m{i}" for i in range(12)]


async def test_unwritable_reply_queue_is_retried_within_budget_then_dead_lettered(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, rds: Any, caplog: Any
) -> None:
    """A reply queue that is a key of another type (WRONGTYPE) fails like a handler: the same
    attempts and backoff, then a dead letter that says so; later actions are not held back."""
    cid = await _conversation(db, tenant)
    bad = wire.pseudo_sync(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "m0"}
    )
    await rds.set(bad["callback_queue_name"], "not a list")
    later = wire.pseudo_sync(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "m1"}
    )
    await start_worker(worker_max_attempts=3, worker_retry_base_ms=20)
    await wire.send(bad)
    await wire.send(later)
    reply = await wire.reply(later, wait_s=5)
    assert reply["success"] is True
    await wire.drained(wait_s=5)
    # The effect was committed before the reply failed: it stays, in order, exactly once.
    assert await _contents(db, tenant, cid) == ["m0", "m1"]
    assert await rds.get(bad["callback_queue_name"]) == b"not a list"
    dead = await wire.dead_entries()
    assert [d["action_id"] for d in dead] == [bad["action_id"]]
    assert dead[0]["error_type"] == "ReplyFailed"
    assert "WRONGTYPE" in dead[0]["error"]
    assert dead[0]["reply_queue"] == bad["callback_queue_name"]
    assert dead[0]["attempts"] == "3"
    retries = [r for r in caplog.records if bad["callback_queue_name"] in r.getMessage()]
    assert 1 <= len(retries) <= 3 + 1  # one line per attempt and one for the dead letter


async def test_settling_writes_nothing_until_every_key_accepts_it(
    wire: Wire, start_worker: StartWorker, rds: Any, caplog: Any
) -> None:
    """A dead-letter key of the wrong type fails the settle step: the reply must not be pushed
    again on every retry (a script keeps the writes made before its failure)."""

    async def explode(call: Call) -> dict[str, Any]:
        raise RuntimeError("boom")

    registry = default_registry()
    registry.register("conversation.explode", explode)
    await rds.set(wire.dead, "not a stream")
    await start_worker(registry, worker_max_attempts=1, worker_retry_max_ms=20)
    a = wire.pseudo_sync("conversation.explode", {})
    await wire.send(a)

    async def retried() -> bool:
        failures = [r for r in caplog.records if "acknowledging" in r.getMessage()]
        return len(failures) >= 3

    await wait_for(retried, 10, "settle retries")
    assert await rds.llen(a["callback_queue_name"]) == 0
    await rds.delete(wire.dead)
    reply = await wire.reply(a)
    assert reply["error"]["error_code"] == "HANDLER_EXECUTION_ERROR"
    await wire.drained()
    assert await rds.llen(a["callback_queue_name"]) == 0  # pushed exactly once
    assert [d["action_id"] for d in await wire.dead_entries()] == [a["action_id"]]
