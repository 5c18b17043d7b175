"""Message analysis over GraphQL and REST on both backends: written with the message or by
annotateMessage, read back, filtered by intent and sentiment, and refused when malformed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from conversation_service.adapters.database import Database
from tests.conftest import GQL, error_codes

MESSAGE_FIELDS = "id seq content analysis { sentiment intent entities analyzedAt }"
CREATE = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }"
ADD = (
    "mutation($c: ID!, $i: AddMessageInput!) { addMessage(conversationId: $c, input: $i) { "
    + MESSAGE_FIELDS
    + " } }"
)
ANNOTATE = (
    "mutation($m: ID!, $i: MessageAnalysisInput!) { annotateMessage(messageId: $m, input: $i) "
    "{ " + MESSAGE_FIELDS + " } }"
)
MESSAGES = (
    "query($c: ID!, $intent: String, $lo: Float, $hi: Float, $first: Int, $after: String, "
    "$last: Int, $before: String) { messages(conversationId: $c, intent: $intent, "
    "minSentiment: $lo, maxSentiment: $hi, first: $first, after: $after, last: $last, "
    "before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor "
    "startCursor } nodes { seq analysis { sentiment intent } } } }"
)


async def _conversation(gql: GQL, **fields: Any) -> str:
    data = await gql.ok(CREATE, {"i": fields})
    cid: str = data["createConversation"]["id"]
    return cid


async def _add(gql: GQL, cid: str, content: str, analysis: Any = None) -> dict[str, Any]:
    data = await gql.ok(
        ADD, {"c": cid, "i": {"role": "USER", "content": content, "analysis": analysis}}
    )
    message: dict[str, Any] = data["addMessage"]
    return message


async def test_analysis_written_with_the_message_and_read_back(gql: GQL) -> None:
    cid = await _conversation(gql)
    entities = [{"type": "order", "value": "A-17"}]
    m = await _add(
        gql,
        cid,
        "where is my order",
        {"sentiment": -0.25, "intent": "order_status", "entities": entities},
    )
    assert m["analysis"]["sentiment"] == -0.25
    assert m["analysis"]["intent"] == "order_status"
    assert m["analysis"]["entities"] == entities
    plain = await _add(gql, cid, "thanks")
    assert plain["analysis"] is None
    empty = await _add(gql, cid, "ok", {})
    assert empty["analysis"] is None  # nothing given is no analysis
    data = await gql.ok(MESSAGES, {"c": cid})
    assert [n["analysis"] for n in data["messages"]["nodes"]] == [
        {"sentiment": -0.25, "intent": "order_status"},
        None,
        None,
    ]


async def test_annotate_replaces_the_analysis(gql: GQL) -> None:
    cid = await _conversation(gql)
    m = await _add(gql, cid, "hello", {"intent": "greeting"})
    data = await gql.ok(ANNOTATE, {"m": m["id"], "i": {"sentiment": 1, "intent": "praise"}})
    annotated = data["annotateMessage"]
    assert annotated["id"] == m["id"]
    assert annotated["analysis"]["sentiment"] == 1.0
    assert annotated["analysis"]["intent"] == "praise"
    assert annotated["analysis"]["entities"] is None
    assert annotated["analysis"]["analyzedAt"] >= m["analysis"]["analyzedAt"]
    cleared = await gql.ok(ANNOTATE, {"m": m["id"], "i": {}})
    assert cleared["annotateMessage"]["analysis"] is None


async def test_annotate_unknown_or_foreign_message_is_not_found(gql: GQL) -> None:
    cid = await _conversation(gql)
    m = await _add(gql, cid, "mine")
    other = gql.as_tenant(f"{gql.tenant}-other")
    body = await other(ANNOTATE, {"m": m["id"], "i": {"intent": "x"}})
    assert error_codes(body) == ["NOT_FOUND"]
    body = await gql(ANNOTATE, {"m": "00000000-0000-0000-0000-000000000000", "i": {"intent": "x"}})
    assert error_codes(body) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("analysis", "field"),
    [
        ({"sentiment": 1.5}, "analysis.sentiment"),
        ({"sentiment": -1.0001}, "analysis.sentiment"),
        ({"sentiment": 1e308}, "analysis.sentiment"),
        ({"intent": "x" * 129}, "analysis.intent"),
        ({"intent": "  "}, "analysis.intent"),
        ({"intent": "a\nb"}, "analysis.intent"),
        ({"entities": "just text"}, "analysis.entities"),
        ({"entities": [{"v": "x" * 17_000}]}, "analysis.entities"),
    ],
)
async def test_bad_analysis_is_refused_with_the_field(
    gql: GQL, db: Database, analysis: dict[str, Any], field: str
) -> None:
    cid = await _conversation(gql)
    body = await gql(ADD, {"c": cid, "i": {"role": "USER", "content": "x", "analysis": analysis}})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field
    m = await _add(gql, cid, "ok")
    body = await gql(ANNOTATE, {"m": m["id"], "i": analysis})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field.replace("analysis.", "input.")
    data = await gql.ok(MESSAGES, {"c": cid})
    assert data["messages"]["totalCount"] == 1  # nothing written by the refused add


async def test_filters_by_intent_and_sentiment_range_with_pages(gql: GQL) -> None:
    cid = await _conversation(gql)
    sentiments = [-0.9, -0.5, 0.0, 0.5, 0.9, None]
    for i, s in enumerate(sentiments * 2):
        intent = "refund" if i % 2 == 0 else "chat"
        await _add(gql, cid, f"m{i}", {"sentiment": s, "intent": intent})
    data = await gql.ok(MESSAGES, {"c": cid, "intent": "refund"})
    page = data["messages"]
    assert [n["seq"] for n in page["nodes"]] == [1, 3, 5, 7, 9, 11]
    assert page["totalCount"] == 6
    data = await gql.ok(MESSAGES, {"c": cid, "lo": -0.5, "hi": 0.5})
    assert [n["seq"] for n in data["messages"]["nodes"]] == [2, 3, 4, 8, 9, 10]
    # keyset pages over the matching messages only, forward then backward
    seen: list[int] = []
    after = None
    while True:
        data = await gql.ok(
            MESSAGES, {"c": cid, "intent": "refund", "lo": -0.5, "first": 2, "after": after}
        )
        page = data["messages"]
        seen += [n["seq"] for n in page["nodes"]]
        assert page["totalCount"] == 4
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [3, 5, 9, 11]
    data = await gql.ok(MESSAGES, {"c": cid, "intent": "refund", "lo": -0.5, "last": 3})
    page = data["messages"]
    assert [n["seq"] for n in page["nodes"]] == [5, 9, 11]
    assert page["pageInfo"]["hasPreviousPage"] is True
    data = await gql.ok(
        MESSAGES,
        {
            "c": cid,
            "intent": "refund",
            "lo": -0.5,
            "last": 3,
            "before": page["pageInfo"]["startCursor"],
        },
    )
    assert [n["seq"] for n in data["messages"]["nodes"]] == [3]
    assert data["messages"]["pageInfo"]["hasPreviousPage"] is False


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"lo": 0.5, "hi": -0.5}, "minSentiment"),
        ({"lo": -2.0}, "minSentiment"),
        ({"hi": 3.0}, "maxSentiment"),
        ({"intent": "y" * 200}, "intent"),
    ],
)
async def test_bad_filters_are_refused(gql: GQL, variables: dict[str, Any], field: str) -> None:
    cid = await _conversation(gql)
    body = await gql(MESSAGES, {"c": cid, **variables})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field


async def test_conversation_filter_by_intent(gql: GQL) -> None:
    a = await _conversation(gql, title="a")
    b = await _conversation(gql, title="b")
    await _conversation(gql, title="c")
    await _add(gql, a, "refund please", {"intent": "refund"})
    await _add(gql, a, "again", {"intent": "refund"})
    await _add(gql, b, "hi", {"intent": "greeting"})
    m = await _add(gql, b, "later", None)
    query = (
        "query($f: ConversationFilter) { conversations(filter: $f) { totalCount nodes { id } } }"
    )
    data = await gql.ok(query, {"f": {"intent": "refund"}})
    assert data["conversations"]["totalCount"] == 1  # a, once, though two messages match
    assert [n["id"] for n in data["conversations"]["nodes"]] == [a]
    await gql.ok(ANNOTATE, {"m": m["id"], "i": {"intent": "refund"}})
    data = await gql.ok(query, {"f": {"intent": "refund"}})
    assert {n["id"] for n in data["conversations"]["nodes"]} == {a, b}
    body = await gql(query, {"f": {"intent": ""}})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_rest_writes_and_reads_the_analysis(client: httpx.AsyncClient, gql: GQL) -> None:
    headers = {"X-Tenant-ID": gql.tenant or ""}
    cid = (await client.post("/api/v1/conversations", json={}, headers=headers)).json()["id"]
    body = {
        "role": "user",
        "content": "hi",
        "analysis": {"sentiment": 0.75, "intent": "greeting", "entities": {"name": "Ana"}},
    }
    r = await client.post(f"/api/v1/conversations/{cid}/messages", json=body, headers=headers)
    assert r.status_code == 201, r.text
    analysis = r.json()["analysis"]
    assert (analysis["sentiment"], analysis["intent"], analysis["entities"]) == (
        0.75,
        "greeting",
        {"name": "Ana"},
    )
    assert analysis["analyzed_at"] == r.json()["created_at"]
    listed = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=headers)).json()
    assert listed["items"][0]["analysis"] == analysis
    bad = {"role": "user", "content": "hi", "analysis": {"sentiment": -7}}
    r = await client.post(f"/api/v1/conversations/{cid}/messages", json=bad, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-2:] == ["analysis", "sentiment"]


async def test_filters_use_the_indexes(gql: GQL, db: Database) -> None:
    """The plans name the partial indexes (PostgreSQL EXPLAIN / SQLite EXPLAIN QUERY PLAN)."""
    cid = await _conversation(gql)
    await _add(gql, cid, "x", {"sentiment": 0.1, "intent": "refund"})
    tenant = gql.tenant
    checks = {
        "ix_messages_tenant_intent_conversation_seq": (
            "SELECT id FROM messages WHERE tenant_id = :t AND conversation_id = :c "
            "AND intent = 'refund' ORDER BY seq"
        ),
        "ix_messages_tenant_conversation_sentiment": (
            "SELECT id FROM messages WHERE tenant_id = :t AND conversation_id = :c "
            "AND sentiment >= 0.0 AND sentiment <= 0.5"
        ),
    }
    async with db.read() as conn:
        for index, sql in checks.items():
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql("SET enable_seqscan = off")
                rows = (await conn.execute(text("EXPLAIN " + sql), {"t": tenant, "c": cid})).all()
            else:
                rows = (
                    await conn.execute(text("EXPLAIN QUERY PLAN " + sql), {"t": tenant, "c": cid})
                ).all()
            plan = " ".join(str(r[-1]) for r in rows)
            assert index in plan, plan
