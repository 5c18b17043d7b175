"""The OpenAPI document declares what the service enforces, and 405s list every method."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.rest.conftest import Rest


@pytest.fixture
async def doc(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/api/v1/openapi.json")).json()
    return body


def _prop(doc: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    prop: dict[str, Any] = doc["components"]["schemas"][model]["properties"][name]
    return prop


def _string_limits(schema: dict[str, Any]) -> tuple[Any, Any]:
    for part in [schema, *schema.get("anyOf", [])]:
        if "maxLength" in part:
            return part.get("minLength"), part["maxLength"]
    raise AssertionError(f"no maxLength in {schema}")


async def test_enforced_limits_are_declared(doc: dict[str, Any]) -> None:
    assert _string_limits(_prop(doc, "CreateMessageRequest", "content")) == (1, 100_000)
    assert "pattern" in _prop(doc, "CreateMessageRequest", "content")
    assert _string_limits(_prop(doc, "UpdateStateRequest", "key")) == (1, 255)
    assert _string_limits(_prop(doc, "CreateConversationRequest", "agent_id")) == (1, 255)
    token_count = _prop(doc, "CreateMessageRequest", "token_count")["anyOf"][0]
    assert (token_count["minimum"], token_count["maximum"]) == (0, 2**31 - 1)
    listing = {p["name"]: p["schema"] for p in doc["paths"]["/conversations"]["get"]["parameters"]}
    assert _string_limits(listing["agent_id"]) == (1, 255)
    assert _string_limits(listing["user_id"]) == (1, 255)
    assert {"JsonValue", "JsonObject"} <= doc["components"]["schemas"].keys()


async def test_idempotent_replayed_header_is_documented(doc: dict[str, Any]) -> None:
    for path in ("/conversations", "/conversations/{conversation_id}/messages"):
        headers = doc["paths"][path]["post"]["responses"]["201"]["headers"]
        assert headers["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE", "PATCH"])
async def test_405_allow_lists_every_method_of_the_path(rest: Rest, method: str) -> None:
    conv = await rest.create()
    for path, allowed in [
        ("/conversations", {"GET", "POST"}),
        (f"/conversations/{conv['id']}/messages", {"GET", "POST"}),
        (f"/conversations/{conv['id']}", {"GET"}),
    ]:
        response = await rest.client.request(
            method, "/api/v1" + path, headers={"X-Tenant-ID": rest.tenant or ""}
        )
        assert response.status_code == 405, (method, path, response.text)
        assert set(response.headers["allow"].replace(" ", "").split(",")) - {"HEAD"} == allowed
        assert response.json() == {"detail": "Method Not Allowed"}


async def test_numbers_must_be_json_numbers(rest: Rest) -> None:
    conv = await rest.create()
    for bad in (
        {"token_count": "5"},
        {"token_count": True},
        {"sources": [{"document_id": "d", "score": "1"}]},
    ):
        response = await rest.post(
            f"/conversations/{conv['id']}/messages", json={"role": "user", "content": "x", **bad}
        )
        assert response.status_code == 422, (bad, response.text)
    ok = await rest.post(
        f"/conversations/{conv['id']}/messages",
        json={"role": "user", "content": "x", "token_count": 5.0},
    )
    assert ok.status_code == 201, ok.text
    listed = await rest.get("/conversations", params={"from_date": "0.5"})
    assert listed.status_code == 422, listed.text
