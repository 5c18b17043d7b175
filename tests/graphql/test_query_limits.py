"""Query limits at their edges on every HTTP path: exactly at a limit runs, one past it is refused
with `BAD_USER_INPUT` and `extensions.limit`, before any resolver runs."""

from __future__ import annotations

from typing import Any

import pytest

from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.documents import prepare
from conversation_service.schema.errors import shape_error
from conversation_service.schema.fast_path import FastPath
from conversation_service.schema.limits import QueryLimits, limits_of
from tests.conftest import GQL
from tests.graphql.limit_docs import EDGES, VARIABLE_COST, aliases, deep, tokens
from tests.helpers import count_statements

IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(EDGES)]


def _limits(errors: Any) -> list[str | None]:
    """The limits named by a result's errors, shaped as every door shapes them."""
    return [shape_error(e).formatted.get("extensions", {}).get("limit") for e in errors or []]


def _limit_errors(errors: list[dict[str, Any]], limit: str) -> list[dict[str, Any]]:
    return [e for e in errors if e.get("extensions", {}).get("limit") == limit]


def _refused(body: dict[str, Any], limit: str) -> None:
    assert "data" not in body, body
    errors = body["errors"]
    assert _limit_errors(errors, limit), errors
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in errors)


#: the media type under which a request error is a 4xx (`*/*` answers application/json: 200)
STRICT = {"Accept": "application/graphql-response+json"}


@pytest.mark.parametrize(("limit", "at", "past"), EDGES, ids=IDS)
async def test_http_edge(gql: GQL, db: Any, limit: str, at: str, past: str) -> None:
    """Over HTTP: the accepted document is served by the fast path (and, as everywhere in the
    suite, checked against Strawberry); the refused one never reaches a resolver."""
    ok = await gql(at)
    assert "errors" not in ok, ok
    assert ok["data"]
    with count_statements(db) as seen:
        legacy = await gql.raw(past, headers={"Accept": "application/json"})
    assert legacy.status_code == 200
    _refused(legacy.json(), limit)
    assert seen == []
    strict = await gql.raw(past, headers={"Accept": "application/graphql-response+json"})
    assert strict.status_code == 400
    _refused(strict.json(), limit)


@pytest.mark.parametrize(("limit", "at", "past"), EDGES, ids=IDS)
async def test_strawberry_edge(
    container: Container, tenant: str, limit: str, at: str, past: str
) -> None:
    """Strawberry's own execution (the HTTP fallback and the WebSocket door) applies the same rules."""

    def ctx() -> GraphQLContext:
        return GraphQLContext(container=container, raw_tenant_id=tenant)

    ok = await schema.execute(at, context_value=ctx())
    assert not ok.errors, ok.errors
    refused = await schema.execute(past, context_value=ctx())
    assert refused.data is None
    assert limit in _limits(refused.errors)


@pytest.mark.parametrize(("limit", "at", "past"), EDGES, ids=IDS)
async def test_fast_path_edge(
    container: Container, tenant: str, limit: str, at: str, past: str
) -> None:
    """The fast path validates with the same rule list: it serves the document at the limit
    and steps aside (counted) for the one past it, whose errors name the limit."""
    fast = FastPath()
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant)
    assert not isinstance(prepare(at), list)
    assert await fast.execute(at, None, None, ctx) is not None
    assert await fast.execute(past, None, None, ctx) is None
    assert fast.stats.fallbacks == {"invalid document": 1}
    errors = prepare(past)
    assert isinstance(errors, list)
    assert [e for e in errors if (e.extensions or {}).get("limit") == limit]


async def test_page_size_from_a_variable_is_costed_per_request(gql: GQL) -> None:
    ok = await gql(VARIABLE_COST, {"n": 99})  # 50 + 50 * 99 = 5000
    assert "errors" not in ok, ok
    refused = await gql.raw(VARIABLE_COST, {"n": 100}, headers=STRICT)  # 50 + 50 * 100 = 5050
    assert refused.status_code == 400
    _refused(refused.json(), "MAX_QUERY_COST")


async def test_a_large_junk_document_is_refused_by_the_token_budget(gql: GQL) -> None:
    junk = "{" + " a" * 50_000 + " }"  # 100 KB
    response = await gql.raw(junk, headers=STRICT)
    assert response.status_code == 400
    _refused(response.json(), "MAX_QUERY_TOKENS")
    assert len(response.content) < 1000  # the answer does not echo the document


async def test_limits_come_from_the_settings(container: Container, tenant: str) -> None:
    settings = Settings.from_env(
        {
            "MAX_QUERY_DEPTH": "3",
            "MAX_ALIASES": "2",
            "MAX_QUERY_TOKENS": "50",
            "MAX_QUERY_COST": "7",
        }
    )
    limits = QueryLimits.of(settings)
    assert limits == QueryLimits(max_depth=3, max_aliases=2, max_tokens=50, max_cost=7)
    assert limits_of(GraphQLContext(container=container, raw_tenant_id=tenant)) == QueryLimits()
    custom = Container(
        settings=settings, db=container.db, broadcast=container.broadcast, crm=container.crm
    )
    ctx = GraphQLContext(container=custom, raw_tenant_id=tenant)
    assert limits_of(ctx) == limits
    for document, limit in (
        (deep(4), "MAX_QUERY_DEPTH"),
        (aliases(3), "MAX_ALIASES"),
        (tokens(51), "MAX_QUERY_TOKENS"),
        ("{ conversations(first: 8) { totalCount } }", "MAX_QUERY_COST"),
    ):
        result = await schema.execute(document, context_value=ctx)
        assert limit in _limits(result.errors)
    fine = await schema.execute("{ conversations(first: 7) { totalCount } }", context_value=ctx)
    assert not fine.errors
