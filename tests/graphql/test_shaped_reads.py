"""Reads answered with JSON PostgreSQL builds (schema/shaped.py) are byte for byte Strawberry's
answers, for every column kind, window and filter they cover; anything else is not shaped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from conversation_service.bootstrap import Container
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.fast_path import FastPath
from tests.conftest import GQL

CREATE = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }"
ADD = (
    "mutation($c: ID!, $i: AddMessageInput!) { addMessage(conversationId: $c, input: $i) { seq } }"
)
#: Text the JSON escaping must treat exactly as orjson does.
AWKWARD = 'quote " backslash \\ tab \t newline \n nul-ish \x01 \x1f del \x7f é 漢字 🙂 </script>'

MESSAGE_COLUMNS = (
    "__typename id conversationId seq role content contentType senderId agentId modelUsed "
    "tokenCount processingTimeMs toolCallId clientMessageId"
)
CONVERSATION_COLUMNS = (
    "__typename id tenantId userId agentId sessionId title status messageCount lastSeq version"
)

SHAPED: list[tuple[str, dict[str, Any]]] = [
    (
        "{ conversations(first: 20) { nodes { messages(first: 20) { nodes { seq role content } } } } }",
        {},
    ),
    (
        f"{{ conversations(first: 3, order: ASC) {{ __typename nodes {{ {CONVERSATION_COLUMNS} "
        f"m: messages(last: 2) {{ __typename nodes {{ {MESSAGE_COLUMNS} }} }} "
        f"all: messages {{ nodes {{ seq }} }} }} }} }}",
        {},
    ),
    (
        '{ conversations(filter: {userId: "u-1", status: ACTIVE}, page: 1, pageSize: 2) '
        '{ nodes { id title messages(first: 1, after: "bXwx") { nodes { seq content } } } } }',
        {},
    ),
    (
        "query($c: ID!) { messages(conversationId: $c, last: 50) { nodes { seq role content } } }",
        {},
    ),
    (
        'query($c: ID!) { messages(conversationId: $c, first: 2, before: "bXw0") '
        f"{{ nodes {{ {MESSAGE_COLUMNS} }} }} }}",
        {},
    ),
    (
        'query($c: ID!) { messages(conversationId: $c, last: 2, before: "bXw0") { nodes { seq } } }',
        {},
    ),
    ("query($c: ID!) { messages(conversationId: $c, first: 0) { nodes { seq } } }", {}),
    ('{ conversations(filter: {userId: "nobody"}) { nodes { id } } }', {}),
]

NOT_SHAPED = [
    "{ conversations(first: 2) { pageInfo { hasNextPage } nodes { id } } }",
    "{ conversations(first: 2) { nodes { createdAt } } }",
    "{ conversations(first: 2) { nodes { messages(first: 1) { totalCount nodes { seq } } } } }",
    "query($c: ID!) { messages(conversationId: $c, last: 2) { nodes { metadata } } }",
    "{ a: conversations(first: 1) { nodes { id } } b: conversations(first: 1) { nodes { id } } }",
]


async def _seed(gql: GQL) -> str:
    cid = ""
    for n, user in enumerate(("u-1", "u-1", "u-2")):
        cid = (await gql.ok(CREATE, {"i": {"title": f"c{n} {AWKWARD}", "userId": user}}))[
            "createConversation"
        ]["id"]
    for i, role in enumerate(("USER", "ASSISTANT", "TOOL", "SYSTEM", "USER")):
        await gql.ok(
            ADD,
            {
                "c": cid,
                "i": {
                    "role": role,
                    "content": f"{i} {AWKWARD}",
                    "senderId": "s" if i % 2 else None,
                    "tokenCount": i if i % 2 else None,
                    "clientMessageId": f"k{i}",
                },
            },
        )
    return str(cid)


def _ctx(container: Container, tenant: str) -> GraphQLContext:
    return GraphQLContext(container=container, raw_tenant_id=tenant)


@pytest.mark.parametrize(("query", "variables"), SHAPED)
async def test_shaped_answers_are_strawberrys(
    container: Container, gql: GQL, tenant: str, query: str, variables: dict[str, Any]
) -> None:
    cid = await _seed(gql)
    variables = {**variables, "c": cid} if "$c" in query else variables
    expected = await schema.execute(
        query, variable_values=variables, context_value=_ctx(container, tenant)
    )
    assert not expected.errors, expected.errors
    fast = FastPath()
    data = await fast.execute(query, variables, None, _ctx(container, tenant))
    assert data is not None
    assert orjson.dumps(data) == orjson.dumps(expected.data)
    if container.db.dialect == "postgresql":
        assert fast.stats.shaped >= 1, "PostgreSQL should build this answer"
    else:
        assert fast.stats.shaped == 0


@pytest.mark.parametrize("query", NOT_SHAPED)
async def test_other_reads_are_not_shaped(
    container: Container, gql: GQL, tenant: str, query: str
) -> None:
    cid = await _seed(gql)
    fast = FastPath()
    data = await fast.execute(
        query, {"c": cid} if "$c" in query else None, None, _ctx(container, tenant)
    )
    assert data is not None
    assert fast.stats.shaped == 0


async def test_walls_and_errors_hold(container: Container, gql: GQL, tenant: str) -> None:
    """Another tenant's rows never appear; bad arguments and unknown ids get the ordinary
    typed errors (the shaped tier steps aside)."""
    cid = await _seed(gql)
    other = gql.as_tenant(tenant + "-other")
    assert await other.ok("{ conversations(first: 20) { nodes { id } } }") == {
        "conversations": {"nodes": []}
    }
    body = await other(
        "query($c: ID!) { messages(conversationId: $c, last: 5) { nodes { seq } } }", {"c": cid}
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql("{ conversations(first: 101) { nodes { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql(
        '{ conversations(first: 1) { nodes { messages(after: "zz") { nodes { seq } } } } }'
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
