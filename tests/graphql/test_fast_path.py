"""The compiled read path returns exactly what Strawberry's execution returns, and steps aside
(returns None) whenever it should not answer."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import strawberry
from graphql import (
    FieldNode,
    GraphQLObjectType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    parse,
    visit,
)
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission

from conversation_service.bootstrap import Container
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.fast_path import (
    FastPath,
    FastPathMismatch,
    ResolverInfo,
    _field_entry,
    execute_query,
    field_table,
)
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
        """query($c: ID!) { messages(conversationId: $c, intent: "greeting", minSentiment: 0)
             { totalCount nodes { seq analysis { sentiment intent entities analyzedAt } } } }""",
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
    (
        """query($c: ID!) { conversation(id: $c) { tenantId agentId sessionId customerInfo
             crmReferences updatedAt customer
             crmSync { id status lastSyncedSeq syncedAt attempts error }
             participants { participantId }
             messages(first: 5) { nodes { id conversationId contentType senderId agentId modelUsed
               processingTimeMs metadata clientMessageId erased sources { title url snippet }
               execution { executionId mode iterations executionTimeMs promptTokens completionTokens } } }
             state { id conversationId updatedAt } } }""",
        {},
    ),
    (
        "query($c: ID!) { conversationContext(conversationId: $c) { conversationId oversizedMessageIds customer } }",
        {},
    ),
    (
        '{ agentUsage(agentId: "agent-1") { agentId promptTokens completionTokens contentTokens conversationTokens } }',
        {},
    ),
    (
        '{ searchMessages(query: "hello") { pageInfo { hasNextPage endCursor } edges { cursor } } }',
        {},
    ),
    (
        """{ retentionPolicy { messagesDays stateDays archiveAfterDays auditDays defaultDays
             defaulted updatedAt }
           erasureReceipt(id: "00000000-0000-0000-0000-000000000000") { id at conversations
             messages stateEntries sources subject } }""",
        {},
    ),
    (
        """{ auditLog(first: 3, action: "message.add") {
             nodes { id at tenantId actor action targetId requestId }
             edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
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
                    "sessionId": "s-1",
                    "customerInfo": {"name": "Ada"},
                    "crmReferences": {"deal": "d-1"},
                    "agentId": "agent-1",
                    "tags": ["t1"],
                    "participants": [{"id": "u", "kind": "user", "displayName": "U"}],
                    "metadata": {"a": [1, 2]},
                }
            },
        )
    )["createConversation"]["id"]
    await gql.ok(
        ADD,
        {
            "c": cid,
            "input": {
                "role": "USER",
                "content": "hello there",
                "senderId": "u",
                "clientMessageId": "client-1",
                "metadata": {"channel": "web"},
                "analysis": {"sentiment": 0.25, "intent": "greeting", "entities": [{"t": "x"}]},
            },
        },
    )
    await gql.ok(
        ADD,
        {
            "c": cid,
            "input": {
                "role": "ASSISTANT",
                "content": "hello back",
                "tokenCount": 7,
                "agentId": "agent-1",
                "modelUsed": "m-1",
                "processingTimeMs": 12,
                "sources": [
                    {
                        "documentId": "doc-1",
                        "title": "D",
                        "url": "https://example.com/d",
                        "snippet": "s",
                        "score": 0.5,
                    }
                ],
                "execution": {
                    "executionId": "e-1",
                    "iterations": 2,
                    "executionTimeMs": 30,
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
    return str(cid)


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


def test_every_output_field_of_the_sdl_is_covered() -> None:
    """Each output field of schema.graphql (roots for writes aside) appears in at least one query
    compared above, so a field the fast path mishandles cannot go unnoticed."""
    sdl = build_schema((Path(__file__).parents[2] / "schema.graphql").read_text())
    every = {
        (name, f)
        for name, t in sdl.type_map.items()
        if isinstance(t, GraphQLObjectType)
        and not name.startswith("__")
        and name not in ("Mutation", "Subscription")
        for f in t.fields
    }
    seen: set[tuple[str, str]] = set()
    type_info = TypeInfo(sdl)

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = type_info.get_parent_type()
            if parent is not None:
                seen.add((parent.name, node.name.value))

    for query, _ in QUERIES:
        visit(parse(query), TypeInfoVisitor(type_info, Fields()))
    assert len(every) > 100
    assert sorted(every - seen) == []


async def test_every_fallback_is_counted_logged_and_exposed(
    container: Container, gql: GQL, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    fast = FastPath()
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant)
    with caplog.at_level(logging.DEBUG, logger="conversation_service.schema.fast_path"):
        assert await fast.execute("{ __schema { queryType { name } } }", None, None, ctx) is None
        assert await fast.execute('{ conversation(id: "bad") { id } }', None, None, ctx) is None
        assert await fast.execute("mutation { x }", None, None, ctx) is None
        assert (
            await fast.execute("query A { __typename } query B { __typename }", None, None, ctx)
            is None
        )
    assert fast.stats.fallbacks == {
        "introspection": 1,
        "error:ValidationFailed": 1,
        "invalid document": 1,
        "operation name": 1,
    }
    assert fast.stats.served == 0
    lines = [r.getMessage() for r in caplog.records if "fell back" in r.getMessage()]
    assert len(lines) == 4
    assert all(len(line) < 300 for line in lines)
    # The app's own fast path is on /metrics.
    await gql.ok("{ __typename }")
    await gql("{ __schema { queryType { name } } }")
    metrics = (await gql.client.get("/metrics")).text
    served = re.search(r"^conversation_service_graphql_fast_path_served (\S+)$", metrics, re.M)
    assert served is not None
    assert float(served.group(1)) >= 1
    assert 'conversation_service_fast_path_fallbacks_total{reason="introspection"} ' in metrics


class _WrongFastPath(FastPath):
    """A compiled path with a bug: every answer it computes has the wrong `__typename`."""

    async def _run(self, *args: Any) -> dict[str, Any]:
        data = await super()._run(*args)
        return {**data, "__typename": "Mutation"} if "__typename" in data else data


async def test_verify_mode_fails_on_any_difference(container: Container, tenant: str) -> None:
    assert container.settings.fast_path_verify  # the whole suite runs with it
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant)
    assert await FastPath().execute("{ __typename }", None, None, ctx) == {"__typename": "Query"}
    with pytest.raises(FastPathMismatch):
        await _WrongFastPath().execute("{ __typename }", None, None, ctx)
    # Strawberry reports an error where the fast path answered: a difference too.
    with pytest.raises(FastPathMismatch):
        await FastPath()._verify(
            '{ conversation(id: "bad") { id } }', None, None, ctx, {"conversation": None}
        )


def test_fields_with_extensions_or_permissions_are_never_compiled() -> None:
    class Deny(BasePermission):
        message = "no"

        def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
            return False

    class Upper(FieldExtension):
        def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
            return str(next_(source, info, **kwargs)).upper()

    @strawberry.type
    class Q:
        @strawberry.field(permission_classes=[Deny])  # type: ignore[untyped-decorator]
        def secret(self) -> str:
            return "s"

        @strawberry.field(extensions=[Upper()])  # type: ignore[untyped-decorator]
        def loud(self) -> str:
            return "l"

        @strawberry.field
        def plain(self) -> str:
            return "p"

    fields = strawberry.Schema(query=Q)._schema.query_type.fields  # type: ignore[union-attr]
    assert _field_entry(fields["secret"]) == "field extensions"
    assert _field_entry(fields["loud"]) == "field extensions"
    entry = _field_entry(fields["plain"])
    assert isinstance(entry, ResolverInfo)
    assert entry.is_method
    # ...and in our schema, the table is built once and every field is either compilable or
    # carries its reason.
    assert field_table(schema._schema) is field_table(schema._schema)
