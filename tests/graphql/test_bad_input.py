"""Bad input on every input field: BAD_USER_INPUT naming the field, never a 500, nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conversation_service.adapters.database import Database
from tests.conftest import GQL, error_codes
from tests.graphql.ops import (
    ADD,
    CREATE,
    GET,
    GET_STATE,
    LIST,
    MESSAGES,
    SET_STATE,
    UPDATE,
    create,
)
from tests.helpers import row_counts

BIG_JSON = {"blob": "x" * (64 * 1024)}
LONG = "x" * 256


def msg(**kw: Any) -> dict[str, Any]:
    return {"role": "USER", "content": "ok", **kw}


# (input of createConversation, expected extensions.field)
CREATE_CASES = [
    ({"id": "not-a-uuid"}, "id"),
    ({"id": "1234"}, "id"),
    ({"userId": ""}, "userId"),
    ({"userId": LONG}, "userId"),
    ({"userId": "a\nb"}, "userId"),
    ({"agentId": LONG}, "agentId"),
    ({"sessionId": ""}, "sessionId"),
    ({"title": "t" * 501}, "title"),
    ({"title": ""}, "title"),
    ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
    ({"tags": [""]}, "tags"),
    ({"tags": ["x" * 65]}, "tags"),
    ({"metadata": BIG_JSON}, "metadata"),
    ({"metadata": [1, 2]}, "metadata"),
    ({"metadata": "text"}, "metadata"),
    ({"metadata": {"nul": "a\u0000b"}}, "metadata"),
    ({"customerInfo": BIG_JSON}, "customerInfo"),
    ({"customerInfo": 5}, "customerInfo"),
    ({"crmReferences": [1]}, "crmReferences"),
    ({"participants": [{"id": ""}]}, "participants.id"),
    ({"participants": [{"id": "p", "kind": ""}]}, "participants.kind"),
    ({"participants": [{"id": f"p{i}"} for i in range(101)]}, "participants"),
    ({"initialMessages": [msg(), msg(), msg(content="")]}, "initialMessages.2.content"),
    ({"initialMessages": [msg(tokenCount=-1)]}, "initialMessages.0.tokenCount"),
    ({"initialMessages": [msg() for _ in range(101)]}, "initialMessages"),
]

# (input of addMessage, expected extensions.field)
ADD_CASES = [
    (msg(content=""), "content"),
    (msg(content="   \n"), "content"),
    (msg(content="x" * 100_001), "content"),
    (msg(content="a\u0000b"), "content"),
    (msg(contentType=""), "contentType"),
    (msg(contentType="x" * 65), "contentType"),
    (msg(senderId=LONG), "senderId"),
    (msg(agentId=""), "agentId"),
    (msg(modelUsed=LONG), "modelUsed"),
    (msg(tokenCount=-1), "tokenCount"),
    (msg(processingTimeMs=-5), "processingTimeMs"),
    (msg(metadata=BIG_JSON), "metadata"),
    (msg(metadata=[1]), "metadata"),
    (msg(toolCalls={"not": "a list"}), "toolCalls"),
    (msg(toolCalls=[1, 2]), "toolCalls"),
    (msg(toolCallId=""), "toolCallId"),
    (msg(sources=[{"documentId": ""}]), "sources.documentId"),
    (msg(sources=[{"documentId": f"d{i}"} for i in range(101)]), "sources"),
    (msg(execution={"detail": BIG_JSON}), "execution"),
    (msg(execution={"iterations": -1}), "execution.iterations"),
    (msg(execution={"promptTokens": -1}), "execution.promptTokens"),
    (msg(clientMessageId=""), "clientMessageId"),
    (msg(clientMessageId=LONG), "clientMessageId"),
]

UPDATE_CASES = [
    ({"title": "t" * 501}, "title"),
    ({"userId": ""}, "userId"),
    ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
    ({"tags": ["x" * 65]}, "tags"),
    ({"metadata": BIG_JSON}, "metadata"),
    ({"metadata": 3}, "metadata"),
    ({"participants": [{"id": ""}]}, "participants.id"),
    ({"customerInfo": []}, "customerInfo"),
    ({"crmReferences": "x"}, "crmReferences"),
    ({"expectedVersion": -1}, "expectedVersion"),
]

STATE_CASES = [
    ({"key": "", "value": 1}, "key"),
    ({"key": "k" * 256, "value": 1}, "key"),
    ({"key": "k", "value": BIG_JSON}, "value"),
    ({"key": "k", "value": 1, "ttlSeconds": 0}, "ttlSeconds"),
    ({"key": "k", "value": 1, "ttlSeconds": -5}, "ttlSeconds"),
    ({"key": "k", "value": 1, "expectedVersion": -1}, "expectedVersion"),
]


def assert_bad_input(body: dict[str, Any], field: str | None) -> None:
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    if field is not None:
        assert body["errors"][0]["extensions"].get("field") == field, body["errors"][0]


@pytest.mark.parametrize(("input", "field"), CREATE_CASES)
async def test_create_conversation_bad_input(
    gql: GQL, db: Database, tenant: str, input: dict[str, Any], field: str | None
) -> None:
    assert_bad_input(await gql(CREATE, {"input": input}), field)
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}


@pytest.mark.parametrize(("input", "field"), ADD_CASES)
async def test_add_message_bad_input(
    gql: GQL, db: Database, tenant: str, input: dict[str, Any], field: str | None
) -> None:
    conv = await create(gql)
    assert_bad_input(await gql(ADD, {"cid": conv["id"], "input": input}), field)
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert (after["messageCount"], after["lastSeq"], after["version"]) == (0, 0, 1)
    assert (await row_counts(db, tenant))["messages"] == 0


@pytest.mark.parametrize(("input", "field"), UPDATE_CASES)
async def test_update_conversation_bad_input(
    gql: GQL, input: dict[str, Any], field: str | None
) -> None:
    conv = await create(gql, title="keep", tags=["keep"])
    assert_bad_input(await gql(UPDATE, {"id": conv["id"], "input": input}), field)
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert (after["title"], after["tags"], after["version"]) == ("keep", ["keep"], 1)


@pytest.mark.parametrize(("input", "field"), STATE_CASES)
async def test_update_state_bad_input(
    gql: GQL, db: Database, tenant: str, input: dict[str, Any], field: str | None
) -> None:
    conv = await create(gql)
    assert_bad_input(await gql(SET_STATE, {"cid": conv["id"], "input": input}), field)
    assert (await row_counts(db, tenant))["state"] == 0


BAD_ID = "not-a-uuid"


@pytest.mark.parametrize(
    ("doc", "variables", "field"),
    [
        (GET, {"id": BAD_ID}, "id"),
        (UPDATE, {"id": BAD_ID, "input": {"title": "x"}}, "id"),
        (ADD, {"cid": BAD_ID, "input": msg()}, "conversationId"),
        (SET_STATE, {"cid": BAD_ID, "input": {"key": "k", "value": 1}}, "conversationId"),
        (MESSAGES, {"cid": BAD_ID}, "conversationId"),
        (GET_STATE, {"cid": BAD_ID, "key": "k"}, "conversationId"),
        (GET_STATE, {"cid": str(uuid.uuid4()), "key": ""}, "stateKey"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "first": 101}, "first"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "last": 101}, "last"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "first": -1}, "first"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "limit": 0}, "limit"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "limit": 101}, "limit"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "first": 1, "last": 1}, "last"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "after": "%%%"}, "after"),
        (MESSAGES, {"cid": str(uuid.uuid4()), "before": "bm90LWEtY3Vyc29y"}, "before"),
        (LIST, {"first": 101}, "first"),
        (LIST, {"first": -1}, "first"),
        (LIST, {"page": 0}, "page"),
        (LIST, {"pageSize": 0}, "pageSize"),
        (LIST, {"pageSize": 101}, "pageSize"),
        (LIST, {"page": 1, "first": 1}, "first"),
        (LIST, {"first": 1, "after": "garbage"}, "after"),
        (LIST, {"filter": {"userId": ""}}, "userId"),
        (LIST, {"filter": {"agentId": LONG}}, "agentId"),
        (LIST, {"filter": {"sessionId": ""}}, "sessionId"),
        (LIST, {"filter": {"tags": [""]}}, "tags"),
        (LIST, {"filter": {"anyTags": ["x" * 65]}}, "anyTags"),
        (
            LIST,
            {"filter": {"fromDate": "2024-02-01T00:00:00Z", "toDate": "2024-01-01T00:00:00Z"}},
            "fromDate",
        ),
    ],
)
async def test_bad_arguments(
    gql: GQL, db: Database, tenant: str, doc: str, variables: dict[str, Any], field: str | None
) -> None:
    assert_bad_input(await gql(doc, variables), field)
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}


@pytest.mark.parametrize(
    ("doc", "variables", "field"),
    [
        (ADD, {"cid": "x", "input": {"role": "SHOUT", "content": "x"}}, "role"),
        (ADD, {"cid": "x", "input": {"content": "x"}}, "role"),
        (ADD, {"cid": "x", "input": msg(tokenCount=2**31)}, "tokenCount"),
        (ADD, {"cid": "x", "input": msg(tokenCount="many")}, "tokenCount"),
        (CREATE, {"input": {"status": "OPEN"}}, "status"),
        (CREATE, {"input": {"unknownField": 1}}, "unknownField"),
        (SET_STATE, {"cid": "x", "input": {"key": "k", "value": 1, "stateType": "X"}}, "stateType"),
        (LIST, {"order": "UP"}, "order"),
        (LIST, {"filter": {"fromDate": "yesterday"}}, "fromDate"),
        (MESSAGES, {"cid": "x", "fromTimestamp": "2024-13-45"}, "fromTimestamp"),
    ],
)
async def test_bad_variable_values_are_request_errors(
    gql: GQL, db: Database, tenant: str, doc: str, variables: dict[str, Any], field: str | None
) -> None:
    raw = await gql.raw(doc, variables, headers={"Accept": "application/graphql-response+json"})
    assert raw.status_code == 400
    body = raw.json()
    assert_bad_input(body, field)
    assert "data" not in body
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}


async def test_bad_enum_literal_in_document(gql: GQL) -> None:
    raw = await gql.raw(
        'mutation { addMessage(conversationId: "x", input: {role: SHOUT, content: "x"}) { id } }',
        headers={"Accept": "application/json"},
    )
    assert raw.status_code == 200
    assert error_codes(raw.json()) == ["BAD_USER_INPUT"]
