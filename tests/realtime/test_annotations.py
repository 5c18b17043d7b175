"""`messageAnnotated`: annotateMessage's `annotated` event reaches subscribers over real
WebSockets, on PostgreSQL with Redis fan-out and on SQLite with the in-process broadcast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conversation_service.config import Settings
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.commands import NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.messages import add_message, annotate_message
from tests.conftest import REDIS_URL
from tests.realtime.conftest import LiveServer, WSClient, start_server
from tests.realtime.test_subscriptions import new_conversation, subscribed, write

ANNOTATED = """
subscription($c: ID, $agent: String) {
  messageAnnotated(conversationId: $c, agentId: $agent) {
    id seq conversationId analysis { sentiment intent entities }
  }
}
"""
ADDED = "subscription($c: ID) { messageAdded(conversationId: $c) { seq } }"


@pytest.fixture(params=["postgresql", "sqlite"])
async def server(
    request: pytest.FixtureRequest, tmp_path: Path, database_urls: dict[str, Any]
) -> AsyncIterator[LiveServer]:
    if request.param == "postgresql":
        settings = Settings(
            auth_mode="none",
            database_url=request.getfixturevalue("pg_url"),
            broadcast_url=REDIS_URL,
        )
    else:
        settings = Settings(auth_mode="none", database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db")
    srv = await start_server(settings)
    try:
        yield srv
    finally:
        await srv.stop()
        await srv.container.close()


async def _message_id(live: LiveServer, tenant: str, cid: str, text: str) -> str:

    added = await live.container.db.run(
        tenant, add_message, cid, NewMessage(role=MessageRole.USER, content=text)
    )
    return added.message.id


async def test_annotations_reach_subscribers_once_each_newest_last(
    server: LiveServer, tenant: str, protocol: str
) -> None:
    cid = await new_conversation(server, tenant, agent_id="agent-a")
    other = await new_conversation(server, tenant, agent_id="agent-b")
    client = await WSClient.connect(server.ws_url, protocol, tenant)
    one = await client.subscribe(ANNOTATED, {"c": cid})
    by_agent = await client.subscribe(ANNOTATED, {"agent": "agent-b"})
    added = await client.subscribe(ADDED, {"c": cid})
    await subscribed(server, 3)
    mid = await _message_id(server, tenant, cid, "hello")
    assert (await client.next_data(added))["data"]["messageAdded"]["seq"] == 1
    db = server.container.db
    await db.run(tenant, annotate_message, mid, MessageAnalysis(0.5, "greeting", {"who": "Ana"}))
    await db.run(tenant, annotate_message, mid, MessageAnalysis(-0.5, "complaint", None))
    first = (await client.next_data(one))["data"]["messageAnnotated"]
    second = (await client.next_data(one))["data"]["messageAnnotated"]
    assert first["id"] == second["id"] == mid
    assert first["analysis"] == {"sentiment": 0.5, "intent": "greeting", "entities": {"who": "Ana"}}
    assert second["analysis"] == {"sentiment": -0.5, "intent": "complaint", "entities": None}
    await db.run(tenant, annotate_message, mid, MessageAnalysis())  # cleared
    cleared = (await client.next_data(one))["data"]["messageAnnotated"]
    assert (cleared["id"], cleared["analysis"]) == (mid, None)
    # the agent filter: the other agent's annotation only
    oid = await _message_id(server, tenant, other, "b")
    await db.run(tenant, annotate_message, oid, MessageAnalysis(intent="b-intent"))
    got = (await client.next_data(by_agent))["data"]["messageAnnotated"]
    assert (got["id"], got["analysis"]["intent"]) == (oid, "b-intent")
    # an annotation is not a new message: messageAdded sends nothing more for cid
    await write(server, tenant, cid, "next")
    assert (await client.next_data(added))["data"]["messageAdded"]["seq"] == 2
    await client.close()
