"""The compiled read path returns exactly what Strawberry's execution returns, and steps aside
(returns None) whenever it should not answer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from conversation_service.bootstrap import Container
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.fast_path import execute_query
from tests.conftest import GQL

SEED = """
mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }
"""
ADD = """
mutation($c: ID!, $input: AddMessageInput!) { addMessage(conversationId: $c, input: $input) { id } }
"""

QUERIES: list[tuple[str, dict[str, Any]]] = [
    (
        """{ conversations(first: 5) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
             edges { cursor node { id status tags metadata createdAt lastMessageAt version
               participants { id kind displayName joinedAt }
               messages(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { seq role } } } } } } }""",
        {},
    ),
    (
        """query Q($c: ID!, $skip: Boolean!, $n: Int) {
             conversation(id: $c) { __typename id ...F
               msgs: messages(last: $n) { nodes { __typename seq content @skip(if: $skip) sources { documentId score metadata }
                 execution { mode totalTokens detail } toolCalls toolCallId tokenCount conversation { id title } } }
               state { key value stateType version expiresAt } stateEntry(key: "k") { value version }
               ... on Conversation { title userId } } }
           fragment F on Conversation { messageCount totalTokens lastSeq }""",
        {"skip": False, "n": 3},
    ),
    (
        "query($c: ID!) { messages(conversationId: $c, limit: 2) { totalCount nodes { seq createdAt } } }",
        {},
    ),
    (
        'query($c: ID!) { conversationState(conversationId: $c, stateKey: "k") { key value version } }',
        {},
    ),
    (
        "query($c: ID!) { conversationContext(conversationId: $c, maxMessages: 2) { totalTokens truncated omittedMessages messages { seq tokenCount } } }",
        {},
    ),
    ('{ messagesBySource(documentId: "doc-1") { totalCount nodes { seq } } }', {}),
    ('{ agentUsage(agentId: "agent-1") { conversations messages totalTokens } }', {}),
    ('{ searchMessages(query: "hello") { totalCount edges { rank snippet node { seq } } } }', {}),
    (
        '{ conversations(filter: {tags: ["t1"]}, page: 1, pageSize: 2) { page pageSize totalCount nodes { id } } }',
        {},
    ),
]


async def _seed(gql: GQL) -> str:
    cid: str = (
        await gql.ok(
            SEED,
            {
                "input": {
                    "title": "fast",
                    "userId": "u",
                    "agentId": "agent-1",
                    "tags": ["t1"],
                    "participants": [{"id": "u", "kind": "user", "displayName": "U"}],
                    "metadata": {"a": [1, 2]},
                }
            },
        )
    )["createConversation"]["id"]
    await gql.ok(ADD, {"c": cid, "input": {"role": "USER", "content": "hello there"}})
    await gql.ok(
        ADD,
        {
            "c": cid,
            "input": {
                "role": "ASSISTANT",
                "content": "hello back",
                "tokenCount": 7,
                "sources": [{"documentId": "doc-1", "title": "D", "score": 0.5}],
                "execution": {
                    "mode": "advance",
                    "promptTokens": 3,
                    "completionTokens": 4,
                    "detail": {"x": 1},
                },
                "toolCalls": [{"id": "c1", "name": "f", "arguments": "{}"}],
            },
        },
    )
    await gql.ok(
        ADD, {"c": cid, "input": {"role": "TOOL", "content": "result", "toolCallId": "c1"}}
    )
    await gql.ok(
        'mutation($c: ID!) { updateConversationState(conversationId: $c, input: {key: "k", value: {v: 1}}) { version } }',
        {"c": cid},
    )
    return cid


@pytest.mark.parametrize(("query", "variables"), QUERIES)
async def test_fast_path_matches_strawberry(
    container: Container, gql: GQL, tenant: str, query: str, variables: dict[str, Any]
) -> None:
    cid = await _seed(gql)
    variables = {**variables, "c": cid} if "$c" in query else variables

    def ctx() -> GraphQLContext:
        return GraphQLContext(container=container, raw_tenant_id=tenant)

    expected = await schema.execute(query, variable_values=variables, context_value=ctx())
    assert not expected.errors, expected.errors
    fast = await execute_query(query, variables, None, ctx())
    assert fast is not None, "the fast path should answer this query"
    assert orjson.dumps(fast) == orjson.dumps(expected.data)


async def test_fast_path_steps_aside(container: Container, gql: GQL, tenant: str) -> None:
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant)
    assert await execute_query("{ __schema { queryType { name } } }", None, None, ctx) is None
    assert await execute_query('{ conversation(id: "not-a-uuid") { id } }', None, None, ctx) is None
    assert (
        await execute_query("mutation { createConversation(input: {}) { id } }", None, None, ctx)
        is None
    )
    no_tenant = GraphQLContext(container=container, raw_tenant_id=None)
    assert await execute_query("{ conversations { totalCount } }", None, None, no_tenant) is None
    # ...and the HTTP door then answers with the ordinary typed errors.
    body = await gql('{ conversation(id: "not-a-uuid") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
