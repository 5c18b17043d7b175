"""POST/GET /api/v1/conversations/{id}/messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.rest.conftest import Rest, assert_422


async def test_add_message_returns_201_with_both_ids(rest: Rest) -> None:
    conv = await rest.create()
    response = await rest.post(
        f"/conversations/{conv['id']}/messages",
        json={
            "role": "assistant",
            "content": "Hola, ¿en qué te ayudo?",
            "content_type": "text",
            "sender_id": "bot",
            "agent_id": "a1",
            "model_used": "gpt-4o",
            "token_count": 9,
            "processing_time_ms": 120,
            "metadata": {"k": "v"},
            "sources": [{"document_id": "doc-1", "title": "FAQ", "score": 1}],
            "execution": {"execution_id": "e1", "mode": "react", "iterations": 2},
            "tool_calls": [{"id": "call-1", "name": "lookup", "arguments": "{}"}],
            "client_message_id": "m-1",
        },
    )
    assert response.status_code == 201, response.text
    m = response.json()
    assert m["id"] == m["message_id"]
    assert m["conversation_id"] == conv["id"]
    assert (m["seq"], m["role"], m["token_count"], m["processing_time_ms"]) == (
        1,
        "assistant",
        9,
        120,
    )
    assert m["sources"] == [
        {
            "document_id": "doc-1",
            "title": "FAQ",
            "url": None,
            "snippet": None,
            "score": 1.0,
            "metadata": {},
        }
    ]
    assert m["execution"]["mode"] == "react"
    assert m["execution"]["iterations"] == 2
    assert m["tool_calls"] == [{"id": "call-1", "name": "lookup", "arguments": "{}"}]
    assert m["client_message_id"] == "m-1"
    tool = await rest.add(conv["id"], role="function", content="42", tool_call_id="call-1")
    assert (tool["seq"], tool["role"], tool["tool_call_id"]) == (2, "tool", "call-1")
    legacy = await rest.add(conv["id"], sender="user", content="hi", tokens_used=3)
    assert (legacy["role"], legacy["token_count"]) == ("user", 3)
    after = (await rest.get(f"/conversations/{conv['id']}")).json()
    assert (after["message_count"], after["last_seq"]) == (3, 3)


async def test_retry_with_client_message_id_returns_the_first(rest: Rest) -> None:
    conv = await rest.create()
    first = await rest.add(conv["id"], content="once", client_message_id="c-1")
    response = await rest.post(
        f"/conversations/{conv['id']}/messages",
        json={"role": "user", "content": "once", "client_message_id": "c-1"},
    )
    assert response.status_code == 201
    assert response.headers["idempotent-replayed"] == "true"
    assert response.json() == first
    listed = (await rest.get(f"/conversations/{conv['id']}/messages")).json()
    assert listed["total"] == 1


async def test_list_messages_window(rest: Rest) -> None:
    conv = await rest.create()
    added = [await rest.add(conv["id"], content=f"m{i}") for i in range(5)]
    path = f"/conversations/{conv['id']}/messages"
    everything = (await rest.get(path)).json()
    assert [m["seq"] for m in everything["items"]] == [1, 2, 3, 4, 5]
    assert (everything["total"], everything["has_more"]) == (5, False)
    first_two = (await rest.get(path, params={"limit": 2})).json()
    assert [m["content"] for m in first_two["items"]] == ["m0", "m1"]
    assert (first_two["total"], first_two["has_more"]) == (5, True)
    since = (await rest.get(path, params={"from_timestamp": added[3]["created_at"]})).json()
    assert [m["seq"] for m in since["items"]] == [4, 5]
    assert (since["total"], since["has_more"]) == (2, False)
    future = (await rest.get(path, params={"from_timestamp": "2999-01-01T00:00:00"})).json()
    assert future == {"items": [], "total": 0, "has_more": False}


async def test_messages_404_for_unknown_and_foreign_conversations(rest: Rest) -> None:
    conv = await rest.create()
    other = rest.as_tenant(f"other-{uuid.uuid4().hex[:8]}")
    for client, cid in ((rest, str(uuid.uuid4())), (rest, "nope"), (other, conv["id"])):
        path = f"/conversations/{cid}/messages"
        got = await client.get(path)
        assert got.status_code == 404, got.text
        posted = await client.post(path, json={"role": "user", "content": "x"})
        assert posted.status_code == 404, posted.text
        assert isinstance(posted.json()["detail"], str)
    assert (await rest.get(f"/conversations/{conv['id']}")).json()["message_count"] == 0


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"from_timestamp": "tomorrow"}, ["query", "from_timestamp"]),
        ({"from_timestamp": "9999-12-31T23:00:00-05:00"}, ["query", "from_timestamp"]),
    ],
)
async def test_list_messages_rejects_bad_parameters(
    rest: Rest, params: dict[str, Any], loc: list[str]
) -> None:
    conv = await rest.create()
    assert_422(await rest.get(f"/conversations/{conv['id']}/messages", params=params), loc)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"content": "x"}, ["body", "role"]),
        ({"role": "robot", "content": "x"}, ["body", "role"]),
        ({"role": "user"}, ["body", "content"]),
        ({"role": "user", "content": ""}, ["body", "content"]),
        ({"role": "user", "content": "x" * 100_001}, ["body", "content"]),
        ({"role": "user", "content": "a\x00"}, ["body", "content"]),
        ({"role": "user", "content": 5}, ["body", "content"]),
        ({"role": "user", "content": "x", "content_type": ""}, ["body", "content_type"]),
        ({"role": "user", "content": "x", "token_count": -1}, ["body", "token_count"]),
        ({"role": "user", "content": "x", "token_count": 2**31}, ["body", "token_count"]),
        ({"role": "user", "content": "x", "token_count": "many"}, ["body", "token_count"]),
        (
            {"role": "user", "content": "x", "processing_time_ms": -5},
            ["body", "processing_time_ms"],
        ),
        ({"role": "user", "content": "x", "sender_id": "a\nb"}, ["body", "sender_id"]),
        ({"role": "user", "content": "x", "metadata": "m"}, ["body", "metadata"]),
        ({"role": "user", "content": "x", "sources": [{"title": "t"}]}, ["body", "sources"]),
        ({"role": "user", "content": "x", "sources": [{"document_id": ""}]}, ["body", "sources"]),
        ({"role": "user", "content": "x", "tool_calls": {"id": 1}}, ["body", "tool_calls"]),
        (
            {"role": "user", "content": "x", "execution": {"iterations": "two"}},
            ["body", "execution"],
        ),
        (
            {"role": "user", "content": "x", "client_message_id": "x" * 256},
            ["body", "client_message_id"],
        ),
    ],
)
async def test_add_message_rejects_bad_bodies(rest: Rest, body: Any, loc: list[str]) -> None:
    conv = await rest.create()
    assert_422(await rest.post(f"/conversations/{conv['id']}/messages", json=body), loc)
    assert (await rest.get(f"/conversations/{conv['id']}")).json()["message_count"] == 0
