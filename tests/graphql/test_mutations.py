"""Every mutation over HTTP: shapes, idempotency, compare-and-set, typed errors."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import GQL, error_codes
from tests.graphql.ops import ADD, GET, SET_STATE, UPDATE, add, create, set_state
from tests.helpers import row_counts


async def test_create_conversation_full_shape(gql: GQL, tenant):
    cid = str(uuid.uuid4())
    conv = await create(
        gql,
        id=cid,
        userId="u1",
        agentId="a1",
        sessionId="s1",
        title="Hello",
        status="TRANSFERRED",
        tags=["x", "y", "x"],
        metadata={"channel": "web", "n": [1, 2]},
        participants=[
            {
                "id": "u1",
                "kind": "user",
                "displayName": "Ana",
                "joinedAt": "2024-01-02T03:04:05+00:00",
            }
        ],
        customerInfo={"email": "a@b.c"},
        crmReferences={"customer_id": "c-1"},
        initialMessages=[{"role": "SYSTEM", "content": "be nice", "tokenCount": 2}],
    )
    assert conv["id"] == cid
    assert conv["tenantId"] == tenant
    assert (conv["userId"], conv["agentId"], conv["sessionId"], conv["title"]) == (
        "u1",
        "a1",
        "s1",
        "Hello",
    )
    assert conv["status"] == "TRANSFERRED"
    assert conv["tags"] == ["x", "y"]
    assert conv["metadata"] == {"channel": "web", "n": [1, 2]}
    # `id` is this participant in this conversation (a cache key); the user's id is participantId.
    assert conv["participants"] == [
        {
            "id": f"{conv['id']}:u1",
            "participantId": "u1",
            "kind": "user",
            "displayName": "Ana",
            "joinedAt": "2024-01-02T03:04:05+00:00",
        }
    ]
    assert conv["customerInfo"] == {"email": "a@b.c"}
    assert conv["crmReferences"] == {"customer_id": "c-1"}
    assert (conv["messageCount"], conv["lastSeq"], conv["totalTokens"]) == (1, 1, 2)
    assert conv["createdAt"].endswith("+00:00")
    assert conv["lastMessageAt"] is not None


async def test_create_defaults(gql: GQL):
    conv = await create(gql)
    assert conv["status"] == "ACTIVE"
    assert (conv["tags"], conv["metadata"], conv["participants"], conv["crmReferences"]) == (
        [],
        {},
        [],
        {},
    )
    assert (conv["messageCount"], conv["lastSeq"], conv["version"], conv["lastMessageAt"]) == (
        0,
        0,
        1,
        None,
    )


async def test_create_with_existing_id_returns_it_unchanged(gql: GQL, db, tenant):
    cid = str(uuid.uuid4())
    first = await create(gql, id=cid, title="first")
    again = await create(gql, id=cid, title="second", tags=["t"])
    assert again == first
    assert (await row_counts(db, tenant))["conversations"] == 1


async def test_concurrent_creates_of_one_id_over_http(gql: GQL, db, tenant):
    cid = str(uuid.uuid4())
    results = await asyncio.gather(*(create(gql, id=cid) for _ in range(3)))
    assert {r["id"] for r in results} == {cid}
    assert (await row_counts(db, tenant))["conversations"] == 1


async def test_add_message_full_shape(gql: GQL):
    conv = await create(gql)
    msg = await add(
        gql,
        conv["id"],
        "answer",
        role="ASSISTANT",
        contentType="markdown",
        senderId="bot",
        agentId="a1",
        modelUsed="gpt",
        tokenCount=7,
        processingTimeMs=120,
        metadata={"k": "v"},
        toolCalls=[{"id": "call-1", "name": "search", "arguments": "{}"}],
        sources=[
            {"documentId": "doc-1", "title": "T", "url": "https://x", "snippet": "s", "score": 0.5}
        ],
        execution={
            "executionId": "e1",
            "mode": "react",
            "iterations": 2,
            "executionTimeMs": 30,
            "promptTokens": 5,
            "completionTokens": 2,
            "totalTokens": 7,
            "detail": {"a": 1},
        },
        clientMessageId="c-1",
    )
    assert msg["seq"] == 1
    assert msg["conversationId"] == conv["id"]
    assert (msg["role"], msg["content"], msg["contentType"]) == ("ASSISTANT", "answer", "markdown")
    assert (msg["senderId"], msg["agentId"], msg["modelUsed"]) == ("bot", "a1", "gpt")
    assert (msg["tokenCount"], msg["processingTimeMs"], msg["metadata"]) == (7, 120, {"k": "v"})
    assert msg["toolCalls"] == [{"id": "call-1", "name": "search", "arguments": "{}"}]
    assert msg["sources"] == [
        {
            "documentId": "doc-1",
            "title": "T",
            "url": "https://x",
            "snippet": "s",
            "score": 0.5,
            "metadata": {},
        }
    ]
    assert msg["execution"]["iterations"] == 2
    assert msg["execution"]["detail"] == {"a": 1}
    assert msg["clientMessageId"] == "c-1"
    assert msg["conversation"] == {"id": conv["id"], "lastSeq": 1}


async def test_add_message_retry_returns_first(gql: GQL):
    conv = await create(gql)
    first = await add(gql, conv["id"], "one", clientMessageId="k")
    retry = await add(gql, conv["id"], "two", clientMessageId="k")
    assert retry["id"] == first["id"]
    assert retry["content"] == "one"
    data = await gql.ok(GET, {"id": conv["id"]})
    assert data["conversation"]["messageCount"] == 1


async def test_add_message_seq_over_http_is_gapless(gql: GQL):
    conv = await create(gql)
    msgs = await asyncio.gather(*(add(gql, conv["id"], f"m{i}") for i in range(12)))
    assert sorted(m["seq"] for m in msgs) == list(range(1, 13))


async def test_add_message_to_unknown_is_not_found(gql: GQL):
    body = await gql(ADD, {"cid": str(uuid.uuid4()), "input": {"role": "USER", "content": "x"}})
    assert error_codes(body) == ["NOT_FOUND"]
    assert body["data"] is None


async def test_update_conversation(gql: GQL):
    conv = await create(gql, title="a", tags=["t1"], metadata={"m": 1}, userId="u")
    data = await gql.ok(
        UPDATE,
        {
            "id": conv["id"],
            "input": {
                "title": "b",
                "tags": ["t2", "t3"],
                "status": "COMPLETED",
                "expectedVersion": 1,
            },
        },
    )
    up = data["updateConversation"]
    assert (up["title"], up["tags"], up["status"], up["version"]) == (
        "b",
        ["t2", "t3"],
        "COMPLETED",
        2,
    )
    assert (up["metadata"], up["userId"]) == ({"m": 1}, "u")
    stale = await gql(UPDATE, {"id": conv["id"], "input": {"title": "c", "expectedVersion": 1}})
    assert error_codes(stale) == ["CONFLICT"]
    assert stale["errors"][0]["extensions"]["field"] == "expectedVersion"
    cleared = await gql.ok(UPDATE, {"id": conv["id"], "input": {"title": None, "userId": None}})
    assert (cleared["updateConversation"]["title"], cleared["updateConversation"]["userId"]) == (
        None,
        None,
    )
    missing = await gql(UPDATE, {"id": str(uuid.uuid4()), "input": {"title": "x"}})
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_update_counts_messages_in_version(gql: GQL):
    conv = await create(gql)
    await add(gql, conv["id"])
    stale = await gql(UPDATE, {"id": conv["id"], "input": {"title": "x", "expectedVersion": 1}})
    assert error_codes(stale) == ["CONFLICT"]
    ok = await gql.ok(UPDATE, {"id": conv["id"], "input": {"title": "x", "expectedVersion": 2}})
    assert ok["updateConversation"]["version"] == 3


async def test_update_state(gql: GQL):
    conv = await create(gql)
    cid = conv["id"]
    one = await set_state(
        gql, cid, key="step", value={"n": 1}, stateType="MEMORY", expectedVersion=0
    )
    assert (one["key"], one["value"], one["stateType"], one["version"]) == (
        "step",
        {"n": 1},
        "MEMORY",
        1,
    )
    assert one["conversationId"] == cid
    assert one["expiresAt"] is None
    conflict = await gql(
        SET_STATE, {"cid": cid, "input": {"key": "step", "value": 2, "expectedVersion": 0}}
    )
    assert error_codes(conflict) == ["CONFLICT"]
    ttl = await set_state(gql, cid, key="tmp", value=[1], ttlSeconds=120)
    assert ttl["expiresAt"] is not None
    gone = await set_state(gql, cid, key="step", value=None)
    assert (gone["value"], gone["version"]) == (None, 2)
    data = await gql.ok(GET, {"id": cid})
    assert [e["key"] for e in data["conversation"]["state"]] == ["tmp"]
    missing = await gql(SET_STATE, {"cid": str(uuid.uuid4()), "input": {"key": "k", "value": 1}})
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_scalar_state_values_round_trip(gql: GQL):
    conv = await create(gql)
    for i, value in enumerate([1, 2.5, "s", True, False, 0, [], {}, [1, {"a": None}]]):
        entry = await set_state(gql, conv["id"], key=f"k{i}", value=value)
        assert entry["value"] == value
    data = await gql.ok(GET, {"id": conv["id"]})
    assert len(data["conversation"]["state"]) == 9


async def test_several_mutations_in_one_request_run_in_order(gql: GQL):
    cid = str(uuid.uuid4())
    data = await gql.ok(
        """mutation($id: ID!) {
          c: createConversation(input: {id: $id}) { id }
          a: addMessage(conversationId: $id, input: {role: USER, content: "x"}) { seq }
          b: addMessage(conversationId: $id, input: {role: USER, content: "y"}) { seq }
          s: updateConversationState(conversationId: $id, input: {key: "k", value: 1}) { version }
        }""",
        {"id": cid},
    )
    assert data == {"c": {"id": cid}, "a": {"seq": 1}, "b": {"seq": 2}, "s": {"version": 1}}
