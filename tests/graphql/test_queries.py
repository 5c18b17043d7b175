"""Every query over HTTP: single reads, lists with filters and both page styles, message windows."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import GQL, error_codes
from tests.graphql.ops import GET, GET_STATE, LIST, MESSAGES, add, create, set_state


async def test_conversation_by_id(gql: GQL) -> None:
    conv = await create(gql, title="t")
    await set_state(gql, conv["id"], key="k", value={"v": 1})
    data = await gql.ok(GET, {"id": conv["id"]})
    got = data["conversation"]
    assert got["title"] == "t"
    assert got["state"] == [{"key": "k"}]
    assert got["stateEntry"] == {"value": {"v": 1}}
    assert (await gql.ok(GET, {"id": str(uuid.uuid4())}))["conversation"] is None


async def test_conversation_id_is_case_insensitive(gql: GQL) -> None:
    conv = await create(gql)
    data = await gql.ok(GET, {"id": conv["id"].upper()})
    assert data["conversation"]["id"] == conv["id"]


async def test_conversations_filters_over_http(gql: GQL) -> None:
    a = await create(gql, userId="u1", agentId="g1", sessionId="s1", tags=["x", "y"])
    b = await create(gql, userId="u2", agentId="g1", tags=["y"], status="ARCHIVED")

    async def ids(filter: dict[str, Any]) -> set[str]:
        data = await gql.ok(LIST, {"filter": filter, "first": 100})
        return {n["id"] for n in data["conversations"]["nodes"]}

    assert await ids({}) == {a["id"], b["id"]}
    assert await ids({"userId": "u1"}) == {a["id"]}
    assert await ids({"agentId": "g1"}) == {a["id"], b["id"]}
    assert await ids({"sessionId": "s1"}) == {a["id"]}
    assert await ids({"status": "ARCHIVED"}) == {b["id"]}
    assert await ids({"tags": ["x", "y"]}) == {a["id"]}
    assert await ids({"anyTags": ["x", "nope"]}) == {a["id"]}
    assert await ids({"fromDate": b["createdAt"], "toDate": b["createdAt"]}) == {b["id"]}
    assert await ids({"toDate": a["createdAt"]}) == {a["id"]}
    data = await gql.ok(LIST, {"filter": {"tags": ["y"]}, "page": 1, "pageSize": 1})
    assert data["conversations"]["totalCount"] == 2


async def test_offset_and_cursor_pages_over_http(gql: GQL) -> None:
    ids = [(await create(gql))["id"] for _ in range(5)]
    page2 = (await gql.ok(LIST, {"page": 2, "pageSize": 2}))["conversations"]
    assert [n["id"] for n in page2["nodes"]] == [ids[2], ids[1]]
    assert (page2["page"], page2["pageSize"], page2["totalCount"]) == (2, 2, 5)
    assert page2["pageInfo"]["hasNextPage"] is True
    assert page2["pageInfo"]["hasPreviousPage"] is True

    seen, after = [], None
    while True:
        conn = (await gql.ok(LIST, {"first": 2, "after": after, "order": "ASC"}))["conversations"]
        assert conn["page"] is None
        assert [e["node"]["id"] for e in conn["edges"]] == [n["id"] for n in conn["nodes"]]
        assert conn["pageInfo"]["endCursor"] == (
            conn["edges"][-1]["cursor"] if conn["edges"] else None
        )
        seen += [n["id"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == ids


async def test_page_and_first_together_is_bad_input(gql: GQL) -> None:
    body = await gql(LIST, {"page": 1, "first": 2})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_messages_windows_over_http(gql: GQL) -> None:
    conv = await create(gql)
    msgs = [await add(gql, conv["id"], f"m{i + 1}") for i in range(7)]
    cid = conv["id"]

    first = (await gql.ok(MESSAGES, {"cid": cid, "first": 3}))["messages"]
    assert [n["seq"] for n in first["nodes"]] == [1, 2, 3]
    assert first["totalCount"] == 7
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    nxt = (
        await gql.ok(MESSAGES, {"cid": cid, "first": 3, "after": first["pageInfo"]["endCursor"]})
    )["messages"]
    assert [n["seq"] for n in nxt["nodes"]] == [4, 5, 6]
    assert nxt["pageInfo"]["hasPreviousPage"] is True

    last = (await gql.ok(MESSAGES, {"cid": cid, "last": 2}))["messages"]
    assert [n["seq"] for n in last["nodes"]] == [6, 7]
    assert (last["pageInfo"]["hasPreviousPage"], last["pageInfo"]["hasNextPage"]) == (True, False)
    older = (
        await gql.ok(MESSAGES, {"cid": cid, "last": 2, "before": last["pageInfo"]["startCursor"]})
    )["messages"]
    assert [n["seq"] for n in older["nodes"]] == [4, 5]
    assert older["pageInfo"]["hasNextPage"] is True

    since = msgs[4]["createdAt"]
    rest = (await gql.ok(MESSAGES, {"cid": cid, "fromTimestamp": since, "limit": 2}))["messages"]
    start = rest["nodes"][0]["seq"]
    assert start <= 5
    assert [n["seq"] for n in rest["nodes"]] == [start, start + 1]
    assert rest["pageInfo"]["hasNextPage"] is True

    default = (await gql.ok(MESSAGES, {"cid": cid}))["messages"]
    assert [n["content"] for n in default["nodes"]] == [f"m{i}" for i in range(1, 8)]


async def test_messages_of_unknown_conversation_is_not_found(gql: GQL) -> None:
    body = await gql(MESSAGES, {"cid": str(uuid.uuid4())})
    assert error_codes(body) == ["NOT_FOUND"]


async def test_conversation_state_query(gql: GQL) -> None:
    conv = await create(gql)
    await set_state(gql, conv["id"], key="k", value="v", stateType="CONTEXT")
    data = await gql.ok(GET_STATE, {"cid": conv["id"], "key": "k"})
    assert (data["conversationState"]["value"], data["conversationState"]["stateType"]) == (
        "v",
        "CONTEXT",
    )
    assert (await gql.ok(GET_STATE, {"cid": conv["id"], "key": "other"}))[
        "conversationState"
    ] is None
    body = await gql(GET_STATE, {"cid": str(uuid.uuid4()), "key": "k"})
    assert error_codes(body) == ["NOT_FOUND"]


async def test_message_conversation_back_reference(gql: GQL) -> None:
    conv = await create(gql, title="back")
    await add(gql, conv["id"])
    data = await gql.ok(
        """query($cid: ID!) { messages(conversationId: $cid) { nodes { conversation { id title } } } }""",
        {"cid": conv["id"]},
    )
    assert data["messages"]["nodes"][0]["conversation"] == {"id": conv["id"], "title": "back"}
