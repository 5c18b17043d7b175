"""GraphQL over HTTP (the GraphQL-over-HTTP spec) through the real ASGI app."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from conversation_service.adapters.database import Database
from tests.conftest import GQL, error_codes

GRAPHQL_RESPONSE = "application/graphql-response+json"
QUERY = "{ conversations(first: 1) { totalCount } }"


def headers(tenant: str, accept: str | None = None, **extra: str) -> dict[str, str]:
    h = {"X-Tenant-ID": tenant, **extra}
    if accept is not None:
        h["Accept"] = accept
    return h


async def post(
    client: httpx.AsyncClient, tenant: str, body: Any, accept: str | None = None, **extra: str
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers(tenant, accept, **extra))


async def test_post_query_ok_with_both_media_types(client: httpx.AsyncClient, tenant: str) -> None:
    for accept, media in (
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
    ):
        r = await post(client, tenant, {"query": QUERY}, accept)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(media)
        assert r.json() == {"data": {"conversations": {"totalCount": 0}}}


async def test_no_accept_header_means_json(client: httpx.AsyncClient, tenant: str) -> None:
    request = client.build_request(
        "POST", "/graphql", json={"query": "{"}, headers={"X-Tenant-ID": tenant}
    )
    del request.headers["accept"]
    r = await client.send(request)
    assert r.status_code == 200
    assert error_codes(r.json()) == ["BAD_USER_INPUT"]
    assert r.headers["content-type"].startswith("application/json")


async def test_accept_preference_is_honoured(client: httpx.AsyncClient, tenant: str) -> None:
    r = await post(client, tenant, {"query": QUERY}, f"application/json;q=0.5, {GRAPHQL_RESPONSE}")
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    r = await post(client, tenant, {"query": QUERY}, "*/*")
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ conversations(first: 1) { totalCount }"},  # unparsable
        {"query": "{ noSuchField }"},  # invalid against the schema
        {"query": "query($n: Int!) { conversations(first: $n) { totalCount } }"},  # missing var
        {
            "query": "query($n: Int!) { conversations(first: $n) { totalCount } }",
            "variables": {"n": "five"},
        },  # bad variable
        {
            "query": 'mutation($i: AddMessageInput!) { addMessage(conversationId: "x", input: $i) { id } }',
            "variables": {"i": {"role": "NOT_A_ROLE", "content": "x"}},
        },
    ],
)
async def test_request_errors_are_400_with_graphql_response_json(
    client: httpx.AsyncClient, tenant: str, body: Any
) -> None:
    r = await post(client, tenant, body, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    payload = r.json()
    assert "data" not in payload
    assert error_codes(payload)
    assert set(error_codes(payload)) == {"BAD_USER_INPUT"}
    legacy = await post(client, tenant, body, "application/json")
    assert legacy.status_code == 200
    assert set(error_codes(legacy.json())) == {"BAD_USER_INPUT"}


async def test_execution_errors_are_200(client: httpx.AsyncClient, tenant: str) -> None:
    body = {
        "query": "query($id: ID!) { messages(conversationId: $id) { totalCount } }",
        "variables": {"id": str(uuid.uuid4())},
    }
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        r = await post(client, tenant, body, accept)
        assert r.status_code == 200
        payload = r.json()
        assert payload["data"] is None
        assert error_codes(payload) == ["NOT_FOUND"]


async def test_get_runs_queries(client: httpx.AsyncClient, tenant: str) -> None:
    r = await client.get(
        "/graphql",
        params={
            "query": "query($n: Int) { conversations(first: $n) { totalCount } }",
            "variables": '{"n": 2}',
        },
        headers=headers(tenant, GRAPHQL_RESPONSE),
    )
    assert r.status_code == 200
    assert r.json() == {"data": {"conversations": {"totalCount": 0}}}


async def test_get_mutation_is_405_and_writes_nothing(
    client: httpx.AsyncClient, tenant: str, db: Database
) -> None:
    r = await client.get(
        "/graphql",
        params={"query": "mutation { createConversation(input: {}) { id } }"},
        headers=headers(tenant, GRAPHQL_RESPONSE),
    )
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]
    from tests.helpers import row_counts

    assert (await row_counts(db, tenant))["conversations"] == 0


async def test_get_with_bad_variables_json_is_400(client: httpx.AsyncClient, tenant: str) -> None:
    r = await client.get(
        "/graphql", params={"query": QUERY, "variables": "{nope"}, headers=headers(tenant)
    )
    assert r.status_code == 400


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(client: httpx.AsyncClient, tenant: str, method: str) -> None:
    r = await client.request(method, "/graphql", headers=headers(tenant))
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_post_without_json_content_type_is_415(
    client: httpx.AsyncClient, tenant: str
) -> None:
    r = await client.post(
        "/graphql",
        content=f'{{"query": "{QUERY}"}}',
        headers=headers(tenant, **{"Content-Type": "text/plain"}),
    )
    assert r.status_code == 415
    r = await client.post("/graphql", data={"query": QUERY}, headers=headers(tenant))
    assert r.status_code == 415


async def test_json_content_type_with_charset_is_accepted(
    client: httpx.AsyncClient, tenant: str
) -> None:
    r = await client.post(
        "/graphql",
        content=f'{{"query": "{QUERY}"}}',
        headers=headers(tenant, **{"Content-Type": "application/json; charset=utf-8"}),
    )
    assert r.status_code == 200


async def test_unacceptable_accept_is_406(client: httpx.AsyncClient, tenant: str) -> None:
    r = await post(client, tenant, {"query": QUERY}, "text/csv")
    assert r.status_code == 406


async def test_browser_get_serves_graphiql(client: httpx.AsyncClient) -> None:
    r = await client.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "graphiql" in r.text.lower()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": 5},
        {"query": QUERY, "variables": [1]},
        {"query": QUERY, "operationName": 3},
    ],
)
async def test_malformed_request_bodies_are_400(
    client: httpx.AsyncClient, tenant: str, body: Any
) -> None:
    r = await post(client, tenant, body, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert error_codes(r.json()) == ["BAD_USER_INPUT"]


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient, tenant: str) -> None:
    for content in ("{not json", "[1, 2]"):
        r = await client.post(
            "/graphql",
            content=content,
            headers=headers(tenant, **{"Content-Type": "application/json"}),
        )
        assert r.status_code == 400


async def test_get_without_query_is_400(client: httpx.AsyncClient, tenant: str) -> None:
    r = await client.get("/graphql", headers=headers(tenant, "application/json"))
    assert r.status_code == 400


async def test_operation_name_selects_the_operation(client: httpx.AsyncClient, tenant: str) -> None:
    doc = "query A { conversations(first: 1) { totalCount } } query B { __typename }"
    r = await post(client, tenant, {"query": doc, "operationName": "B"})
    assert r.json() == {"data": {"__typename": "Query"}}
    r = await post(client, tenant, {"query": doc}, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    r = await post(client, tenant, {"query": doc, "operationName": "C"}, GRAPHQL_RESPONSE)
    assert r.status_code == 400


async def test_probes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


async def test_gql_fixture_works(gql: GQL) -> None:
    assert (await gql.ok("{ __typename }")) == {"__typename": "Query"}
