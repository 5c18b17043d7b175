"""REST and GraphQL are doors to one domain: writes through one are seen through the other and
publish the same events."""

from __future__ import annotations

import asyncio

from conversation_service.adapters.events import channel
from conversation_service.bootstrap import Container
from tests.conftest import GQL
from tests.rest.conftest import Rest


async def test_rest_write_is_visible_over_graphql(rest: Rest, gql: GQL) -> None:
    conv = await rest.create(user_id="u1", tags=["support"])
    await rest.add(conv["id"], content="Hola", client_message_id="m-1")
    await rest.post(f"/conversations/{conv['id']}/state", json={"key": "step", "value": {"n": 1}})
    data = await gql.ok(
        """query($id: ID!) { conversation(id: $id) { id userId tags status messageCount
             messages(first: 5) { nodes { seq role content clientMessageId } }
             stateEntry(key: "step") { value version stateType } } }""",
        {"id": conv["id"]},
    )
    node = data["conversation"]
    assert (node["id"], node["userId"], node["tags"], node["status"]) == (
        conv["id"], "u1", ["support"], "ACTIVE"
    )  # fmt: skip
    assert node["messageCount"] == 1
    assert node["messages"]["nodes"] == [
        {"seq": 1, "role": "USER", "content": "Hola", "clientMessageId": "m-1"}
    ]
    assert node["stateEntry"] == {"value": {"n": 1}, "version": 1, "stateType": "VARIABLE"}


async def test_graphql_write_is_visible_over_rest(rest: Rest, gql: GQL) -> None:
    data = await gql.ok('mutation { createConversation(input: {title: "g"}) { id } }')
    cid = data["createConversation"]["id"]
    got = await rest.get(f"/conversations/{cid}")
    assert got.status_code == 200
    assert got.json()["title"] == "g"


async def test_rest_writes_publish_events(rest: Rest, container: Container, tenant: str) -> None:
    conv = await rest.create()
    async with (
        container.broadcast.subscribe(channel(tenant, "message_added")) as messages,
        container.broadcast.subscribe(channel(tenant, "state_changed", conv["id"])) as states,
    ):
        added = await rest.add(conv["id"], content="live")
        await rest.post(f"/conversations/{conv['id']}/state", json={"key": "k", "value": 1})
        event = await asyncio.wait_for(messages.get(), timeout=5)
        assert event["kind"] == "message_added"
        assert (event["data"]["message"]["id"], event["data"]["message"]["seq"]) == (added["id"], 1)
        state_event = await asyncio.wait_for(states.get(), timeout=5)
        assert (state_event["data"]["key"], state_event["data"]["version"]) == ("k", 1)
        # A rejected write publishes nothing: the next event is the next accepted one.
        bad = await rest.post(
            f"/conversations/{conv['id']}/messages", json={"role": "user", "content": ""}
        )
        assert bad.status_code == 422
        second = await rest.add(conv["id"], content="after")
        event = await asyncio.wait_for(messages.get(), timeout=5)
        assert event["data"]["message"]["id"] == second["id"]
