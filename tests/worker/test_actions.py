"""Every action type and reply mode, sent as raw stream entries the way nooble4 services do."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import func, select

from conversation_service.adapters.database import Database
from conversation_service.domain.events import ConversationChanged
from conversation_service.domain.messages import list_messages
from conversation_service.domain.pagination import MessageWindow
from conversation_service.models import worker_actions
from conversation_service.worker.streams import main_stream
from tests.worker.conftest import StartWorker, Wire


async def _messages(db: Database, tenant: str, cid: str) -> list[Any]:
    return (await db.query(tenant, list_messages, cid, MessageWindow(first=100))).items


async def test_create_pseudo_sync_and_retry_gets_same_answer(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid4())
    a = wire.pseudo_sync(
        "conversation.create",
        {"conversation_id": cid, "title": "Hola", "tags": ["x"], "metadata": {"k": 1}},
    )
    await wire.send(a)
    first = await wire.reply(a)
    assert first["success"] is True
    assert first["error"] is None
    assert first["action_id"] == a["action_id"]
    assert first["correlation_id"] == a["correlation_id"]
    assert first["task_id"] == a["task_id"]
    assert first["tenant_id"] == tenant
    data = first["data"]
    assert data["id"] == data["conversation_id"] == cid
    assert data["status"] == "active"
    assert data["tags"] == ["x"]
    # envelope fields fill what data leaves out
    assert (data["user_id"], data["agent_id"], data["session_id"]) == (
        "user-1",
        "agent-1",
        "sess-1",
    )

    await wire.send(a)  # the same action again (a sender's retry / duplicate XADD)
    second = await wire.reply(a)
    assert second["data"] == first["data"]
    async with db.read() as conn:
        n = await conn.scalar(
            select(func.count())
            .select_from(worker_actions)
            .where(worker_actions.c.tenant_id == tenant)
        )
    assert n == 1


async def test_message_create_records_turns_on_first_use(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}:sess-1:agent-1"))
    simple = wire.action(
        "conversation.message.create",
        {
            "conversation_id": cid,
            "message_id": str(uuid.uuid4()),
            "user_message": "What is RAG?",
            "agent_message": "Retrieval augmented generation.",
            "timestamp": "2026-01-01T10:00:00Z",
            "metadata": {
                "mode": "simple",
                "token_usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37},
                "query_service_response": {
                    "response": "Retrieval augmented generation.",
                    "sources": [
                        {
                            "document_id": "doc-1",
                            "content": "RAG combines...",
                            "similarity_score": 0.91,
                            "metadata": {"title": "RAG intro"},
                        }
                    ],
                },
            },
        },
    )
    advance = wire.action(
        "conversation.message.create",
        {
            "conversation_id": cid,
            "message_id": "turn-2",
            "user_message": "And ReAct?",
            "agent_message": "Reason + act.",
            "timestamp": "2026-01-01T10:01:00Z",
            "metadata": {
                "mode": "advance",
                "execution_time_seconds": 1.25,
                "react_iterations": 3,
                "iterations_detail": [{"thought": "t", "action": "search"}],
            },
        },
    )
    await wire.send(simple)
    await wire.send(advance)
    await wire.send(simple)  # duplicate delivery of the first turn
    await wire.drained()
    msgs = await _messages(db, tenant, cid)
    assert [(m.seq, m.role.value, m.content) for m in msgs] == [
        (1, "user", "What is RAG?"),
        (2, "assistant", "Retrieval augmented generation."),
        (3, "user", "And ReAct?"),
        (4, "assistant", "Reason + act."),
    ]
    a1, a2 = msgs[1], msgs[3]
    assert a1.id == simple["data"]["message_id"]
    assert a1.token_count == 7
    assert a1.execution is not None
    assert a1.execution["mode"] == "simple"
    assert a1.execution["total_tokens"] == 37
    assert a1.execution["detail"]["query_service_response"]["response"].startswith("Retrieval")
    assert a1.sources == [
        {
            "document_id": "doc-1",
            "title": "RAG intro",
            "url": None,
            "snippet": "RAG combines...",
            "score": 0.91,
            "metadata": {"title": "RAG intro"},
        }
    ]
    assert a2.execution is not None
    assert a2.execution["iterations"] == 3
    assert a2.execution["execution_time_ms"] == 1250
    assert a2.execution["detail"]["iterations_detail"][0]["action"] == "search"
    assert a2.processing_time_ms == 1250
    reply = await wire.call("conversation.get_context", {"session_id": "sess-1"})
    assert reply["success"] is True
    assert next(m["content"] for m in reply["data"]["messages"]) == "What is RAG?"
    assert reply["data"]["conversation_id"] == cid


async def test_add_message_update_state_sync_crm(
    wire: Wire, start_worker: StartWorker, tenant: str, rds: Any
) -> None:
    await start_worker()
    created = await wire.call("conversation.create", {})
    cid = created["data"]["id"]

    # async callback: a DomainAction of callback_action_type on callback_queue_name
    cb = wire.action(
        "conversation.add_message",
        {"conversation_id": cid, "role": "function", "content": "tool output", "token_count": 3},
        correlation_id="corr-1",
        trace_id="trace-1",
        callback_queue_name=f"nooble4:{wire.env}:agent_execution_service:callbacks:conversation_message_stored:corr-1",
        callback_action_type="conversation.message_stored",
    )
    await wire.send(cb)
    callback = await wire.reply(cb)
    assert callback["action_type"] == "conversation.message_stored"
    assert callback["origin_service"] == "conversation_service"
    for k in (
        "tenant_id",
        "session_id",
        "task_id",
        "agent_id",
        "user_id",
        "correlation_id",
        "trace_id",
    ):
        assert callback[k] == cb[k]
    assert callback["action_id"] != cb["action_id"]
    assert callback["data"]["role"] == "tool"
    assert callback["data"]["seq"] == 1
    assert callback["data"]["message_id"] == callback["data"]["id"]

    state = await wire.call(
        "conversation.update_state",
        {
            "conversation_id": cid,
            "state_key": "step",
            "state_value": {"n": 1},
            "state_type": "MEMORY",
        },
    )
    assert state["success"] is True
    assert state["data"]["key"] == "step"
    assert state["data"]["value"] == {"n": 1}
    assert state["data"]["state_type"] == "memory"
    assert state["data"]["version"] == 1

    conflict = await wire.call(
        "conversation.update_state",
        {"conversation_id": cid, "key": "step", "value": 2, "expected_version": 7},
    )
    assert conflict["success"] is False
    assert conflict["data"] is None
    assert conflict["error"]["error_code"] == "CONFLICT"

    bad = await wire.call("conversation.add_message", {"conversation_id": cid, "role": "user"})
    assert bad["success"] is False
    assert bad["error"]["error_type"] == "ValidationError"
    assert bad["error"]["error_code"] == "VALIDATION_ERROR"
    assert bad["error"]["details"]["fields"] == ["content"]

    crm = await wire.call("conversation.sync_crm", {"conversation_id": cid})
    assert {k: crm["data"][k] for k in ("status", "error", "conversation_id")} == {
        "status": "NONE",
        "error": "no CRM configured",
        "conversation_id": cid,
    }
    missing = await wire.call("conversation.sync_crm", {"conversation_id": str(uuid.uuid4())})
    assert missing["error"]["error_code"] == "NOT_FOUND"

    # an async callback for a failure: data an (empty) object, the error in metadata
    fail = wire.action(
        "conversation.add_message",
        {"conversation_id": str(uuid.uuid4()), "role": "user", "content": "x"},
        correlation_id="corr-2",
        callback_queue_name=f"nooble4:{wire.env}:x:callbacks:y:corr-2",
        callback_action_type="conversation.message_stored",
    )
    await wire.send(fail)
    failed = await wire.reply(fail)
    assert failed["data"] == {}
    assert failed["metadata"]["error"]["error_code"] == "NOT_FOUND"


async def test_legacy_session_actions(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    for role, content in [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "bye"),
    ]:
        await wire.send(
            wire.action(
                "conversation.save_message",
                {"role": role, "content": content, "message_type": "text", "processing_time": 0.5},
            )
        )
    history = await wire.call("conversation.get_history", {"limit": 2})
    assert history["success"] is True
    assert [m["content"] for m in history["data"]["messages"]] == ["hello", "bye"]
    full = await wire.call("conversation.get_history", {"limit": 10, "include_system": True})
    assert [m["role"] for m in full["data"]["messages"]] == ["system", "user", "assistant", "user"]
    assert full["data"]["messages"][2]["processing_time_ms"] == 500

    for action_type in ("conversation.get_context", "conversation.context.get"):
        ctx = await wire.call(action_type, {"session_id": "sess-1", "model_name": "gpt-4"})
        assert ctx["success"] is True
        assert ctx["data"]["message_count"] == 4
        assert isinstance(ctx["data"]["total_tokens"], int)
        assert ctx["data"]["truncated"] is False

    empty = await wire.call("conversation.get_context", {"session_id": "never-seen"})
    assert empty["data"]["messages"] == []
    assert empty["data"]["conversation_id"] is None

    closed = await wire.call("conversation.session_closed", {"session_id": "sess-1"})
    assert closed["data"]["closed"] == 1
    conv = closed["data"]["conversations"][0]
    assert conv["status"] == "completed"
    assert "session_closed_at" in conv["metadata"]
    again = await wire.call("conversation.session_closed", {"session_id": "sess-1"})
    assert again["data"]["closed"] == 0


async def test_unknown_and_malformed_entries(
    wire: Wire, start_worker: StartWorker, tenant: str
) -> None:
    await start_worker()
    unknown = await wire.call("conversation.teleport", {})
    assert unknown["success"] is False
    assert unknown["error"]["error_code"] == "UNKNOWN_ACTION"

    await wire.send_raw({"data": b"{not json"})
    await wire.send_raw({"payload": b"{}"})
    broken = wire.pseudo_sync("conversation.create", {})
    del broken["task_id"]
    await wire.send(broken)
    reply = await wire.reply(broken)  # the caller hears about it instead of timing out
    assert reply["success"] is False
    assert reply["error"]["error_code"] == "VALIDATION_ERROR"
    assert "task_id" in reply["error"]["message"]
    assert (reply["tenant_id"], reply["session_id"]) == (broken["tenant_id"], "sess-1")
    # Without tenant_id no answer can be read by the caller's model: dead-lettered, not answered.
    unreadable = wire.pseudo_sync("conversation.create", {})
    del unreadable["tenant_id"]
    await wire.send(unreadable)
    bad_tenant = await wire.call("conversation.create", {}, tenant_id="bad tenant!")
    assert bad_tenant["error"]["error_code"] == "VALIDATION_ERROR"

    # the loop survived: a good action still works
    ok = await wire.call("conversation.create", {})
    assert ok["success"] is True
    await wire.drained()
    dead = await wire.dead_entries()
    reasons = [d["error"] for d in dead]
    assert reasons[:4] == [
        "'data' is not JSON",
        "entry has no 'data' field",
        "invalid DomainAction: task_id",
        "invalid DomainAction: tenant_id",
    ]
    assert all(d["error_type"] == "MalformedEntry" for d in dead[:4])
    assert await wire.redis.llen(unreadable["callback_queue_name"]) == 0


async def test_extra_fields_kept_and_service_stream(
    wire: Wire, start_worker: StartWorker, env: str
) -> None:
    await start_worker(worker_listen_service_stream=True)
    a = wire.pseudo_sync("conversation.create", {}, some_future_field={"x": 1})
    await wire.send(a, stream=main_stream(env, "conversation_service"))
    reply = await wire.reply(a)
    assert reply["success"] is True
    from conversation_service.worker.envelope import DomainAction

    parsed = DomainAction.model_validate(a)
    assert parsed.model_dump()["some_future_field"] == {"x": 1}
    assert orjson.loads(orjson.dumps(parsed.model_dump(mode="json")))["some_future_field"]


async def test_create_carries_every_conversation_field(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid4())
    reply = await wire.call(
        "conversation.create",
        {
            "conversation_id": cid,
            "status": "TRANSFERRED",
            "crm_references": {"customer_id": "c-9"},
            "participants": [{"id": "u", "joined_at": "2024-01-01T10:00:00"}],
            "initial_messages": [
                {"role": "system", "content": "be brief"},
                {"role": "function", "content": "tool says hi"},
            ],
        },
    )
    data = reply["data"]
    assert (data["status"], data["crm_references"]) == ("transferred", {"customer_id": "c-9"})
    assert data["participants"][0]["joined_at"] == "2024-01-01T10:00:00+00:00"  # naive is UTC
    assert [(m.seq, m.role.value) for m in await _messages(db, tenant, cid)] == [
        (1, "system"),
        (2, "tool"),
    ]
    bad = await wire.call(
        "conversation.create", {"participants": [{"id": "u", "joined_at": 12345}]}
    )
    assert bad["success"] is False
    assert bad["error"]["error_code"] == "VALIDATION_ERROR"
    bad_role = await wire.call(
        "conversation.create", {"initial_messages": [{"role": "robot", "content": "x"}]}
    )
    assert bad_role["error"]["error_code"] == "VALIDATION_ERROR"


async def test_sync_crm_links_the_customer_first(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    from conversation_service.domain.conversations import get_conversation

    await start_worker()
    cid = (await wire.call("conversation.create", {}))["data"]["id"]
    reply = await wire.call(
        "conversation.sync_crm",
        {"conversation_id": cid, "crm_entity_id": "cust-7", "customer_info": {"email": "a@b.c"}},
    )
    assert reply["success"] is True
    record = await db.query(tenant, get_conversation, cid)
    assert record.crm_references["customer_id"] == "cust-7"
    assert record.customer_info == {"email": "a@b.c"}


async def test_an_action_writes_as_its_sending_service(
    wire: Wire, start_worker: StartWorker, db: Database, tenant: str
) -> None:
    """The audit actor of a worker write is `worker:<origin_service>` (the stream is the trust
    boundary; the action is still confined to its own tenant)."""
    seen: list[tuple[str, str | None]] = []

    async def record(uow: Any, _event: Any) -> None:
        seen.append((uow.tenant_id, uow.actor))

    handlers = db.reactions.in_transaction.setdefault(ConversationChanged, [])
    handlers.append(record)
    try:
        await start_worker()
        action = wire.pseudo_sync("conversation.create", {"title": "from a service"})
        await wire.send(action)
        assert (await wire.reply(action))["success"] is True
    finally:
        handlers.remove(record)
    assert seen == [(tenant, f"worker:{action['origin_service']}")]
