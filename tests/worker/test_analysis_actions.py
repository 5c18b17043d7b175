"""Analysis written by the worker: `conversation.add_message` data `analysis`, and the
platform's turn (`conversation.message.create`) with `user_analysis` / `agent_analysis`."""

from __future__ import annotations

import uuid
from typing import Any

from conversation_service.domain.messages import list_messages
from conversation_service.domain.pagination import MessageWindow
from tests.worker.conftest import StartWorker, Wire


async def test_actions_carry_the_analysis(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}:sess-1:agent-1"))
    turn = wire.action(
        "conversation.message.create",
        {
            "conversation_id": cid,
            "message_id": str(uuid.uuid4()),
            "user_message": "My order never came",
            "agent_message": "Sorry! Let me check.",
            "metadata": {"mode": "advance"},
            "user_analysis": {"sentiment": -0.8, "intent": "complaint", "entities": [{"order": 7}]},
            "agent_analysis": {"sentiment": 0.4},
        },
    )
    await wire.send(turn)
    await wire.drained()
    reply = await wire.call(
        "conversation.add_message",
        {
            "conversation_id": cid,
            "role": "user",
            "content": "thanks",
            "analysis": {"intent": "thanks", "sentiment": 1},
        },
    )
    assert reply["success"] is True, reply
    assert reply["data"]["analysis"]["intent"] == "thanks"
    bad = await wire.call(
        "conversation.add_message",
        {"conversation_id": cid, "role": "user", "content": "x", "analysis": {"sentiment": 9}},
    )
    assert bad["success"] is False
    assert bad["error"]["error_code"] == "VALIDATION_ERROR"
    items = (await db.query(tenant, list_messages, cid, MessageWindow(first=10))).items
    assert [(m.role.value, m.analysis and m.analysis["intent"]) for m in items] == [
        ("user", "complaint"),
        ("assistant", None),
        ("user", "thanks"),
    ]
    assert items[0].analysis is not None
    assert items[0].analysis["sentiment"] == -0.8
    assert items[0].analysis["entities"] == [{"order": 7}]
    assert items[1].analysis is not None
    assert items[1].analysis["sentiment"] == 0.4
