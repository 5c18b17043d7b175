"""GraphQL over HTTP (the GraphQL-over-HTTP spec) through the real ASGI app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conversation_service.adapters.database import Database
from conversation_service.bootstrap import Container
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


# --- Media types for wildcard and missing Accept (GraphQL over HTTP SHOULDs) ---


@pytest.mark.parametrize("accept", ["*/*", None, "application/*"])
async def test_wildcard_or_missing_accept_answers_application_json(
    client: httpx.AsyncClient, tenant: str, accept: str | None
) -> None:
    for body, status in (({"query": QUERY}, 200), ({"query": "{"}, 200)):
        request = client.build_request("POST", "/graphql", json=body, headers=headers(tenant))
        if accept is None:
            del request.headers["accept"]
        else:
            request.headers["accept"] = accept
        r = await client.send(request)
        assert r.status_code == status
        assert r.headers["content-type"] == "application/json; charset=utf-8"


# --- Batches (Apollo's BatchHttpLink) ---


async def test_batch_answers_each_operation_in_order(
    client: httpx.AsyncClient, tenant: str
) -> None:
    batch = [
        {"query": QUERY},
        {"query": "{ noSuchField }"},
        {
            "query": "query Q($n: Int) { conversations(first: $n) { totalCount } }",
            "variables": {"n": 1},
        },
        {"query": ""},
    ]
    r = await post(client, tenant, batch, GRAPHQL_RESPONSE)
    assert r.status_code == 200
    answers = r.json()
    assert isinstance(answers, list)
    assert len(answers) == 4
    assert answers[0] == {"data": {"conversations": {"totalCount": 0}}}
    assert error_codes(answers[1]) == ["BAD_USER_INPUT"]
    assert "data" not in answers[1]
    assert answers[2] == {"data": {"conversations": {"totalCount": 0}}}
    assert error_codes(answers[3]) == ["BAD_USER_INPUT"]


async def test_batch_mutations_run_in_order(
    gql: GQL, client: httpx.AsyncClient, tenant: str
) -> None:
    create = "mutation { createConversation(input: {}) { id } }"
    r = await post(client, tenant, [{"query": create}, {"query": create}, {"query": QUERY}])
    answers = r.json()
    ids = [a["data"]["createConversation"]["id"] for a in answers[:2]]
    assert len(set(ids)) == 2
    assert answers[2] == {"data": {"conversations": {"totalCount": 2}}}


async def test_batch_at_the_limit_passes_one_over_is_refused(
    client: httpx.AsyncClient, tenant: str
) -> None:
    at_limit = [{"query": QUERY}] * 10  # MAX_BATCH_SIZE default
    r = await post(client, tenant, at_limit, GRAPHQL_RESPONSE)
    assert r.status_code == 200
    assert len(r.json()) == 10
    for accept, status in ((GRAPHQL_RESPONSE, 400), ("application/json", 400)):
        r = await post(client, tenant, [*at_limit, {"query": QUERY}], accept)
        assert r.status_code == status
        error = r.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "limit": "MAX_BATCH_SIZE"}
        assert "at most 10" in error["message"]


async def test_empty_batch_is_400(client: httpx.AsyncClient, tenant: str) -> None:
    r = await post(client, tenant, [], GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert error_codes(r.json()) == ["BAD_USER_INPUT"]


# --- Automatic persisted queries (Apollo's PersistedQueryLink) ---


def _apq(query: str) -> dict[str, object]:
    import hashlib

    return {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}
    }


def _unique_query() -> str:
    return f"query Q{uuid.uuid4().hex} {{ conversations(first: 1) {{ totalCount }} }}"


async def test_persisted_query_unknown_hash_then_registration_then_hit(
    client: httpx.AsyncClient, tenant: str
) -> None:
    query = _unique_query()
    ext = _apq(query)
    r = await post(client, tenant, {"extensions": ext}, "application/json")
    assert r.status_code == 200
    assert r.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    r = await post(client, tenant, {"extensions": ext}, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert error_codes(r.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    r = await post(client, tenant, {"query": query, "extensions": ext}, GRAPHQL_RESPONSE)
    assert r.json() == {"data": {"conversations": {"totalCount": 0}}}
    r = await post(client, tenant, {"extensions": ext}, GRAPHQL_RESPONSE)
    assert r.status_code == 200
    assert r.json() == {"data": {"conversations": {"totalCount": 0}}}


async def test_persisted_query_hash_mismatch_is_bad_user_input_and_not_stored(
    client: httpx.AsyncClient, tenant: str
) -> None:
    query = _unique_query()
    wrong = _apq(query + " ")
    r = await post(client, tenant, {"query": query, "extensions": wrong}, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert error_codes(r.json()) == ["BAD_USER_INPUT"]
    r = await post(client, tenant, {"extensions": wrong}, GRAPHQL_RESPONSE)
    assert error_codes(r.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "xyz"}, "nope"],
)
async def test_persisted_query_bad_extension_is_bad_user_input(
    client: httpx.AsyncClient, tenant: str, persisted: Any
) -> None:
    r = await post(client, tenant, {"extensions": {"persistedQuery": persisted}}, GRAPHQL_RESPONSE)
    assert r.status_code == 400
    assert error_codes(r.json()) == ["BAD_USER_INPUT"]


async def test_persisted_query_by_get_with_hash_only(
    client: httpx.AsyncClient, tenant: str
) -> None:
    import json

    query = _unique_query()
    ext = json.dumps(_apq(query))
    r = await client.get("/graphql", params={"extensions": ext}, headers=headers(tenant))
    assert error_codes(r.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    r = await client.get(
        "/graphql", params={"query": query, "extensions": ext}, headers=headers(tenant)
    )
    assert r.json() == {"data": {"conversations": {"totalCount": 0}}}
    r = await client.get("/graphql", params={"extensions": ext}, headers=headers(tenant))
    assert r.status_code == 200
    assert r.json() == {"data": {"conversations": {"totalCount": 0}}}
    # Answers are per tenant: no shared cache may keep them.
    assert r.headers["cache-control"] == "private, no-store"
    assert "X-Tenant-ID" in r.headers["vary"]


async def test_persisted_queries_are_shared_through_redis(
    container: Container, redis_url: str, tenant: str
) -> None:
    """Two apps (two instances) with the same Redis: one registers, the other hits."""
    import httpx
    import redis.asyncio as aioredis

    from conversation_service.web.app import create_app

    query = _unique_query()
    ext = _apq(query)
    r1 = aioredis.from_url(redis_url)
    r2 = aioredis.from_url(redis_url)
    try:
        answers = []
        for i, rc in enumerate((r1, r2)):
            shared = type(container)(**{**container.__dict__, "redis": rc})
            app = create_app(container=shared)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                body = {"query": query, "extensions": ext} if i == 0 else {"extensions": ext}
                answers.append((await post(c, tenant, body, GRAPHQL_RESPONSE)).json())
        assert answers == [{"data": {"conversations": {"totalCount": 0}}}] * 2
        digest = ext["persistedQuery"]["sha256Hash"]  # type: ignore[index]
        ttl = await r1.ttl(f"conversation_service:apq:{digest}")
        assert 0 < ttl <= 86_400
        await r1.delete(f"conversation_service:apq:{digest}")
    finally:
        await r1.aclose()
        await r2.aclose()


async def test_in_process_persisted_queries_are_bounded() -> None:
    from conversation_service.web.persisted_queries import PersistedQueries

    store = PersistedQueries(lambda: None, max_entries=3, ttl_s=60, max_query_bytes=100)
    queries = [f"{{ a{i} }}" for i in range(4)]
    for q in queries:
        await store.resolve(q, _apq(q))
    assert len(store._local) == 3
    from conversation_service.web.persisted_queries import PersistedQueryError

    with pytest.raises(PersistedQueryError):
        await store.resolve(None, _apq(queries[0]))  # evicted, least recently used
    assert await store.resolve(None, _apq(queries[3])) == queries[3]
    big = "{ " + "a " * 100 + "}"
    await store.resolve(big, _apq(big))  # runs, but is too large to keep
    with pytest.raises(PersistedQueryError):
        await store.resolve(None, _apq(big))


# --- CORS ---


@pytest.fixture
async def cors_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    from conversation_service.web.app import create_app

    settings = container.settings.with_(cors_origins=("https://app.example",))
    app = create_app(settings=settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


@pytest.mark.parametrize("path", ["/graphql", "/api/v1/conversations"])
async def test_cors_preflight_for_an_allowed_origin(
    cors_client: httpx.AsyncClient, path: str
) -> None:
    r = await cors_client.options(
        path,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-api-key, x-tenant-id, content-type, x-request-id",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "x-tenant-id", "content-type", "x-request-id"} <= allowed


async def test_cors_other_origins_get_no_cors_headers(
    cors_client: httpx.AsyncClient, tenant: str
) -> None:
    r = await cors_client.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code >= 400
    assert "access-control-allow-origin" not in r.headers
    r = await cors_client.post(
        "/graphql",
        json={"query": QUERY},
        headers={"Origin": "https://evil.example", "X-Tenant-ID": tenant},
    )
    assert "access-control-allow-origin" not in r.headers
    r = await cors_client.post(
        "/graphql",
        json={"query": QUERY},
        headers={"Origin": "https://app.example", "X-Tenant-ID": tenant},
    )
    assert r.headers["access-control-allow-origin"] == "https://app.example"


async def test_without_cors_origins_there_is_no_cors(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/graphql",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_cors_origins_are_read_as_a_comma_list() -> None:
    from conversation_service.config import Settings

    s = Settings.from_env({"CORS_ORIGINS": "https://a.example, https://b.example,"})
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert Settings.from_env({}).cors_origins == ()


async def test_persisted_queries_degrade_when_redis_is_down() -> None:
    """Redis unreachable: a hash-only request is NOT_FOUND (the client resends the query), and a
    request with the query still runs; neither is a 500."""
    import redis.asyncio as aioredis

    from conversation_service.web.persisted_queries import PersistedQueries, PersistedQueryError
    from tests.realtime.conftest import free_port

    down = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    store = PersistedQueries(lambda: down, max_entries=10, ttl_s=60, max_query_bytes=1000)
    query = _unique_query()
    try:
        with pytest.raises(PersistedQueryError) as exc:
            await store.resolve(None, _apq(query))
        assert exc.value.code == "PERSISTED_QUERY_NOT_FOUND"
        assert await store.resolve(query, _apq(query)) == query
    finally:
        await down.aclose()
