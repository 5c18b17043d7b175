"""Every write the worker applies leaves exactly one audit entry per change, with the action's id
as request id; a duplicate delivery and a rejected action leave none."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import audit_rows
from tests.worker.conftest import StartWorker, Wire


async def _new(db: Any, tenant: str, seen: int) -> list[Any]:
    return (await audit_rows(db, tenant))[seen:]


async def test_every_worker_write_leaves_its_entries(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid4())
    create = wire.pseudo_sync("conversation.create", {"conversation_id": cid})
    await wire.send(create)
    assert (await wire.reply(create))["success"] is True
    entries = await _new(db, tenant, 0)
    assert [(e.action, e.target_id, e.request_id) for e in entries] == [
        ("conversation.create", cid, create["action_id"])
    ]
    await wire.send(create)  # redelivered: answered from the ledger, nothing written
    await wire.reply(create)
    assert await _new(db, tenant, 1) == []

    added = await wire.call(
        "conversation.add_message", {"conversation_id": cid, "role": "user", "content": "hi"}
    )
    assert added["success"] is True
    state = await wire.call(
        "conversation.update_state", {"conversation_id": cid, "key": "step", "value": 1}
    )
    assert state["success"] is True
    bad = await wire.call("conversation.add_message", {"conversation_id": cid, "role": "user"})
    assert bad["success"] is False
    turn = await wire.call(
        "conversation.message.create",
        {"conversation_id": cid, "message_id": str(uuid.uuid4()), "user_message": "u",
         "agent_message": "a", "metadata": {"mode": "simple"}},
    )  # fmt: skip
    assert turn["success"] is True, turn
    actions = [e.action for e in await _new(db, tenant, 1)]
    assert actions == ["message.add", "state.set", "message.add", "message.add"]
