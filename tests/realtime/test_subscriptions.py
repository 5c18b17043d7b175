"""Subscriptions end to end: real uvicorn, Redis, WebSocket clients of both protocols."""

from __future__ import annotations

import asyncio
from typing import Any

from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.messages import add_message
from tests.realtime.conftest import LiveServer, WSClient

MESSAGE_ADDED = """
subscription($c: ID, $after: Int, $agent: String) {
  messageAdded(conversationId: $c, afterSeq: $after, agentId: $agent) { seq content conversationId }
}
"""


async def new_conversation(live: LiveServer, tenant: str, **kw: Any) -> str:
    record, _ = await create_conversation(live.container.db, tenant, NewConversation(**kw))
    return record.id


async def write(live: LiveServer, tenant: str, cid: str, text: str) -> int:
    result = await add_message(
        live.container.db, tenant, cid, NewMessage(role=MessageRole.USER, content=text)
    )
    return result.message.seq


async def test_message_added_reaches_subscriber(live: LiveServer, tenant: str, protocol: str) -> None:
    cid = await new_conversation(live, tenant)
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    op = await client.subscribe(MESSAGE_ADDED, {"c": cid})
    await asyncio.sleep(0)  # let the server register; the feed itself guarantees no loss after
    await _wait_subscribed(live)
    for i in range(5):
        await write(live, tenant, cid, f"m{i}")
    seqs = [(await client.next_data(op))["data"]["messageAdded"]["seq"] for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    await client.close()


async def _wait_subscribed(live: LiveServer, n: int = 1) -> None:
    hub = live.container.broadcast.hub
    async with asyncio.timeout(5):
        while hub.subscriber_count() < n:
            await asyncio.sleep(0.01)
