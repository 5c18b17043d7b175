"""Every reply this worker sends parses with the platform's own models: failed callbacks carry an
object in `data` and the error in `metadata`; envelopes too broken to answer in a readable shape
are dead-lettered with one log line instead of answered with nulls."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import pytest

from tests.worker.conftest import StartWorker, Wire
from tests.worker.platform_models import PlatformDomainAction, PlatformDomainActionResponse


@pytest.fixture
def tenant() -> str:
    return str(uuid.uuid4())  # the platform's ids are UUIDs, tenant and session included


def platform_action(wire: Wire, action_type: str, data: dict[str, Any], **extra: Any) -> Any:
    corr = str(uuid.uuid4())
    return wire.action(
        action_type,
        data,
        session_id=str(uuid.uuid4()),
        agent_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        correlation_id=corr,
        callback_queue_name=f"nooble4:{wire.env}:agent_execution:callbacks:x:{corr}",
        **extra,
    )


async def test_failed_async_callback_is_a_valid_domain_action(
    wire: Wire, start_worker: StartWorker
) -> None:
    await start_worker()
    ok = platform_action(
        wire, "conversation.create", {}, callback_action_type="agent_execution.conversation_ready"
    )
    failed = platform_action(
        wire,
        "conversation.add_message",
        {"conversation_id": str(uuid.uuid4()), "role": "user", "content": "x"},
        callback_action_type="agent_execution.message_saved",
    )
    broken = platform_action(
        wire, "conversation.create", {}, callback_action_type="agent_execution.conversation_ready"
    )
    del broken["timestamp"]  # malformed: still answered, in the callback's own shape
    for a in (ok, failed, broken):
        await wire.send(a)
    good = PlatformDomainAction.model_validate(await wire.reply(ok))
    assert good.metadata is not None
    assert good.metadata["success"] is True
    assert good.data["id"]
    bad = PlatformDomainAction.model_validate(await wire.reply(failed))
    assert bad.action_type == "agent_execution.message_saved"
    assert bad.data == {}
    assert bad.metadata is not None
    assert bad.metadata["success"] is False
    assert bad.metadata["error"]["error_code"] == "NOT_FOUND"
    for field in ("tenant_id", "session_id", "task_id", "agent_id", "user_id", "correlation_id"):
        assert getattr(bad, field) == failed[field]
    assert bad.origin_service == "conversation_service"
    malformed = PlatformDomainAction.model_validate(await wire.reply(broken))
    assert malformed.data == {}
    assert malformed.metadata is not None
    assert malformed.metadata["error"]["error_code"] == "VALIDATION_ERROR"
    assert malformed.correlation_id == broken["correlation_id"]


async def test_pseudo_sync_replies_parse_as_the_platforms_response(
    wire: Wire, start_worker: StartWorker
) -> None:
    await start_worker()
    ok = platform_action(wire, "conversation.create", {})
    rejected = platform_action(wire, "conversation.update_state", {"conversation_id": "nope"})
    broken = platform_action(wire, "conversation.create", {})
    del broken["task_id"]  # malformed, but what the caller needs to read an answer is there
    for a in (ok, rejected, broken):
        await wire.send(a)
    for a, success in ((ok, True), (rejected, False), (broken, False)):
        reply = PlatformDomainActionResponse.model_validate(await wire.reply(a))
        assert reply.success is success
        assert str(reply.tenant_id) == a["tenant_id"]
        assert str(reply.session_id) == a["session_id"]
        assert reply.correlation_id == a["correlation_id"]


@pytest.mark.parametrize("missing", ["tenant_id", "session_id"])
@pytest.mark.parametrize("mode", ["pseudo_sync", "callback"])
async def test_unanswerable_envelope_is_dead_lettered_not_answered_with_nulls(
    wire: Wire, start_worker: StartWorker, caplog: Any, missing: str, mode: str
) -> None:
    await start_worker()
    extra = {"callback_action_type": "agent_execution.done"} if mode == "callback" else {}
    a = platform_action(wire, "conversation.create", {}, **extra)
    del a[missing]
    with caplog.at_level(logging.WARNING, logger="conversation_service.worker"):
        await wire.send(a)
        await wire.drained()
    # Acknowledged (atomically with any reply) and nothing was pushed to the caller's queue.
    assert await wire.redis.llen(a["callback_queue_name"]) == 0
    dead = await wire.dead_entries()
    assert len(dead) == 1
    assert orjson.loads(dead[0]["data"])["action_id"] == a["action_id"]
    assert dead[0]["error"] == f"invalid DomainAction: {missing}"
    assert dead[0]["reply"] == f"no reply sent: the action lacks {missing}"
    lines = [r for r in caplog.records if "dead-letter" in r.getMessage()]
    assert len(lines) == 1
    assert "no reply sent" in lines[0].getMessage()
