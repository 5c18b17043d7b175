"""The access matrix on a real server (AUTH_MODE=required): every root field (generated from the
schema) and every REST route (from the OpenAPI document), against no credential, a wrong
tenant, an expired and a revoked credential, a reader writing, a writer reading admin data,
and a credential (a service key too) of another tenant, which must learn nothing: someone
else's id answers exactly like a random one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.auth.conftest import World
from tests.auth.graphql_probes import probes

GRAPHQL_RESPONSE = "application/graphql-response+json"
PROBES = probes()
#: (case, credential name or None, X-Tenant-ID values: "a"/"b", expected code, HTTP status)
REFUSED = [
    ("no credential", None, ["a"], "UNAUTHENTICATED", 401),
    ("malformed key", "garbage", ["a"], "UNAUTHENTICATED", 401),
    ("wrong tenant", "writer_a", ["b"], "FORBIDDEN", 403),
    ("wrong tenant (JWT)", "jwt_writer_a", ["b"], "FORBIDDEN", 403),
    ("expired key", "expired_a", ["a"], "UNAUTHENTICATED", 401),
    ("expired JWT", "jwt_expired_a", ["a"], "UNAUTHENTICATED", 401),
    ("revoked key", "revoked_a", ["a"], "UNAUTHENTICATED", 401),
    ("tenant header twice", "writer_a", ["a", "a"], "BAD_USER_INPUT", 400),
    ("service key naming no tenant", "service", [], "UNAUTHENTICATED", 401),
]


def _headers(world: World, credential: str | None, tenants: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if credential == "garbage":
        out.append(("Authorization", "Bearer cs_not_a_key"))
    elif credential is not None:
        out.append(("Authorization", f"Bearer {world.keys[credential]}"))
    for t in tenants:
        out.append(("X-Tenant-ID", world.tenant_a if t == "a" else world.tenant_b))
    return out


async def _post(
    http: httpx.AsyncClient, world: World, document: str, headers: list[tuple[str, str]]
) -> httpx.Response:
    return await http.post(
        f"{world.server.http_url}/graphql",
        content=orjson.dumps({"query": document}),
        headers=[*headers, ("Content-Type", "application/json"), ("Accept", GRAPHQL_RESPONSE)],
    )


def _codes(body: Any) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def test_graphql_refuses_every_field_without_a_valid_credential(world: World) -> None:
    wrong: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for case, credential, tenants, code, status in REFUSED:
            for probe in PROBES:
                response = await _post(
                    http,
                    world,
                    probe.document(world.conversation_a),
                    _headers(world, credential, tenants),
                )
                body = response.json()
                if response.status_code != status or _codes(body) != [code] or "data" in body:
                    wrong.append(f"{case} / {probe.field}: {response.status_code} {body}")
                if (
                    status == 401
                    and "bearer" not in response.headers.get("www-authenticate", "").lower()
                ):
                    wrong.append(f"{case} / {probe.field}: no WWW-Authenticate")
        # the legacy media type answers 200, with the same code
        legacy = await http.post(
            f"{world.server.http_url}/graphql",
            json={"query": "{ conversations { totalCount } }"},
            headers={"X-Tenant-ID": world.tenant_a},
        )
        assert legacy.status_code == 200
        assert _codes(legacy.json()) == ["UNAUTHENTICATED"]
    assert wrong == []
    # nothing of A changed
    async with httpx.AsyncClient(timeout=10) as http:
        seen = await _post(
            http,
            world,
            f'query Q {{ conversation(id: "{world.conversation_a}") {{ title messageCount }} }}',
            _headers(world, "reader_a", []),
        )
    assert seen.json() == {"data": {"conversation": {"title": "secret of A", "messageCount": 0}}}


@pytest.mark.parametrize("reader", ["reader_a", "jwt_reader_a"])
async def test_graphql_roles_per_operation_and_field(world: World, reader: str) -> None:
    wrong: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for probe in PROBES:
            if probe.kind == "subscription":
                continue  # over WebSocket: test_ws.py
            document = probe.document(str(uuid.uuid4()))
            as_reader = await _post(http, world, document, _headers(world, reader, []))
            codes = _codes(as_reader.json())
            if probe.kind == "mutation" or probe.needs is not None:
                # a mutation is refused before execution (403); an admin field while it runs
                # (a field error: 200 with the field null)
                status = 403 if probe.kind == "mutation" else 200
                if codes != ["FORBIDDEN"] or as_reader.status_code != status:
                    wrong.append(f"reader {probe.field}: {as_reader.status_code} {codes}")
            elif {"FORBIDDEN", "UNAUTHENTICATED"} & set(codes):
                wrong.append(f"reader {probe.field} refused: {codes}")
            if probe.needs is not None:
                as_writer = await _post(http, world, document, _headers(world, "writer_a", []))
                if _codes(as_writer.json()) != ["FORBIDDEN"]:
                    wrong.append(f"writer read admin field {probe.field}: {as_writer.json()}")
                as_admin = await _post(http, world, document, _headers(world, "admin_a", []))
                if "FORBIDDEN" in _codes(as_admin.json()):
                    wrong.append(f"admin refused {probe.field}")
    assert wrong == []


def _without(text: str, *ids: str) -> str:
    for i in ids:
        text = text.replace(i, "<id>")
    return text


@pytest.mark.parametrize("who", ["writer_b", "service"])
async def test_graphql_has_no_existence_oracle(world: World, who: str) -> None:
    """Tenant B (its own key, or a service key naming B) asks for A's conversation by id:
    every field answers exactly as for an id that does not exist."""
    foreign, random = world.conversation_a, str(uuid.uuid4())
    headers = _headers(world, who, ["b"])
    differ: list[str] = []
    checked = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for probe in PROBES:
            if probe.kind == "subscription" or "{id}" not in probe.template:
                continue
            one = await _post(http, world, probe.document(foreign), headers)
            two = await _post(http, world, probe.document(random), headers)
            checked += 1
            if (one.status_code, _without(one.text, foreign)) != (
                two.status_code,
                _without(two.text, random),
            ):
                differ.append(f"{probe.field}: {one.text} != {two.text}")
        seen = await _post(
            http,
            world,
            f'query Q {{ conversation(id: "{foreign}") {{ title messageCount }} }}',
            _headers(world, "reader_a", []),
        )
    assert checked >= 5
    assert differ == []
    assert seen.json() == {"data": {"conversation": {"title": "secret of A", "messageCount": 0}}}


# --- REST -------------------------------------------------------------------------------


def _synth(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A minimal valid JSON value of an OpenAPI schema (required properties only)."""
    if "$ref" in schema:
        return _synth(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _synth(options[0], components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {n: _synth(props[n], components) for n in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return "k"


async def _routes(http: httpx.AsyncClient, world: World) -> list[tuple[str, str, Any]]:
    """(method, path template, body) of every REST operation, from the public OpenAPI document."""
    doc = (await http.get(f"{world.server.http_url}/api/v1/openapi.json")).json()
    components = doc.get("components", {}).get("schemas", {})
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = None
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is not None:
                body = _synth(content["schema"], components)
            out.append((method.upper(), "/api/v1" + path.removeprefix("/api/v1"), body))
    return out


async def _required_roles(http: httpx.AsyncClient, world: World) -> dict[tuple[str, str], str]:
    """(method, path template) -> the role a route needs beyond the default (reader for GETs,
    writer otherwise), as the OpenAPI document declares it in `x-required-role`."""
    doc = (await http.get(f"{world.server.http_url}/api/v1/openapi.json")).json()
    return {
        (method.upper(), "/api/v1" + path.removeprefix("/api/v1")): op["x-required-role"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if "x-required-role" in op
    }


def _url(world: World, template: str, target: str) -> str:
    path = template.replace("{conversation_id}", target).replace("{state_key}", "k")
    return world.server.http_url + path


async def _call(
    http: httpx.AsyncClient, method: str, url: str, body: Any, headers: list[tuple[str, str]]
) -> httpx.Response:
    return await http.request(
        method,
        url,
        content=orjson.dumps(body) if body is not None else None,
        headers=[*headers, ("Content-Type", "application/json")],
    )


async def test_rest_refuses_every_route_without_a_valid_credential(world: World) -> None:
    wrong: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        routes = await _routes(http, world)
        assert len(routes) >= 7
        for case, credential, tenants, _code, status in REFUSED:
            for method, template, body in routes:
                response = await _call(
                    http,
                    method,
                    _url(world, template, world.conversation_a),
                    body,
                    _headers(world, credential, tenants),
                )
                detail = response.json().get("detail")
                if response.status_code != status or not isinstance(detail, str):
                    wrong.append(
                        f"{case} / {method} {template}: {response.status_code} {response.text}"
                    )
                if status == 401 and response.headers.get("www-authenticate", "") == "":
                    wrong.append(f"{case} / {method} {template}: no WWW-Authenticate")
        roles = await _required_roles(http, world)
        assert set(roles.values()) <= {"admin"}
        for method, template, body in routes:
            url = _url(world, template, str(uuid.uuid4()))
            # REST keeps its required header
            response = await _call(http, method, url, body, _headers(world, "reader_a", ["a"]))
            if method == "GET" and (method, template) not in roles:
                ok = response.status_code not in (401, 403)
            else:
                ok = response.status_code == 403 and isinstance(response.json()["detail"], str)
            if not ok:
                wrong.append(f"reader {method} {template}: {response.status_code} {response.text}")
            if (method, template) in roles:
                for who in ("writer_a", "admin_a"):
                    again = await _call(http, method, url, body, _headers(world, who, ["a"]))
                    refused = again.status_code in (401, 403)
                    if refused != (who == "writer_a"):
                        wrong.append(f"{who} {method} {template}: {again.status_code}")
    assert wrong == []


@pytest.mark.parametrize("who", ["writer_b", "service"])
async def test_rest_has_no_existence_oracle(world: World, who: str) -> None:
    foreign, random = world.conversation_a, str(uuid.uuid4())
    headers = _headers(world, who, ["b"])
    differ: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for method, template, body in await _routes(http, world):
            if "{conversation_id}" not in template:
                continue
            one = await _call(http, method, _url(world, template, foreign), body, headers)
            two = await _call(http, method, _url(world, template, random), body, headers)
            if (one.status_code, _without(one.text, foreign)) != (
                two.status_code,
                _without(two.text, random),
            ):
                differ.append(f"{method} {template}: {one.text} != {two.text}")
            if one.status_code < 400:
                differ.append(f"{method} {template} reached A's conversation: {one.text}")
    assert differ == []


async def test_graphiql_stays_usable(world: World) -> None:
    """The page needs no credential and starts with the Authorization header to fill in."""
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(f"{world.server.http_url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '\\"Authorization\\": \\"Bearer \\"' in page.text


@pytest.mark.parametrize(
    "query_string", ["query={conversations{totalCount}}", "%71uery={conversations{totalCount}}"]
)
async def test_a_browser_get_is_no_way_around_the_credential(
    world: World, query_string: str
) -> None:
    """GraphiQL's page is public; a query dressed as a browser's page request is not."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{world.server.http_url}/graphql?{query_string}",
            headers={"Accept": "text/html, application/json", "X-Tenant-ID": world.tenant_a},
        )
    assert _codes(response.json()) == ["UNAUTHENTICATED"]
    assert "data" not in response.json()
