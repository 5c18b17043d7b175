"""The OpenAPI document and Swagger UI describe every route, model and error response."""

from __future__ import annotations

from typing import Any

import httpx


async def test_openapi_document_is_complete(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["servers"] == [{"url": "/api/v1"}]
    expected = {
        ("post", "/conversations"): {"201", "422"},
        ("get", "/conversations"): {"200", "422"},
        ("get", "/conversations/{conversation_id}"): {"200", "404", "422"},
        ("post", "/conversations/{conversation_id}/messages"): {"201", "404", "422"},
        ("get", "/conversations/{conversation_id}/messages"): {"200", "404", "422"},
        ("post", "/conversations/{conversation_id}/state"): {"200", "404", "409", "422"},
        ("get", "/conversations/{conversation_id}/state/{state_key}"): {"200", "404", "422"},
        ("get", "/subjects/export"): {"200", "400", "403", "422"},
    }
    found = {
        (m, p): set(op["responses"]) for p, ops in doc["paths"].items() for m, op in ops.items()
    }
    assert found == expected
    for (method, path), _ in expected.items():
        op = doc["paths"][path][method]
        assert op["summary"]
        params = {p["name"]: p for p in op["parameters"]}
        assert params["X-Tenant-ID"]["in"] == "header"
        assert params["X-Tenant-ID"]["required"]
        ok = op["responses"]["201" if "201" in op["responses"] else "200"]
        if path == "/subjects/export":  # a stream of JSON lines, not one document
            assert set(ok["content"]) == {"application/x-ndjson"}
            continue
        assert ok["content"]["application/json"]["schema"]["$ref"]
    listing = {p["name"]: p["schema"] for p in doc["paths"]["/conversations"]["get"]["parameters"]}
    assert listing["page"] == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "maximum": 2147483647,
        "default": 1,
        "title": "Page",
        "description": "Page number, from 1.",
    }
    assert listing["page_size"]["maximum"] == 100
    assert listing["page_size"]["default"] == 20
    assert listing["tags"]["anyOf"][0]["type"] == "array"
    messages = doc["paths"]["/conversations/{conversation_id}/messages"]["get"]["parameters"]
    limit = next(p["schema"] for p in messages if p["name"] == "limit")
    assert (limit["exclusiveMinimum"], limit["maximum"], limit["default"]) == (0, 100, 50)
    schemas = doc["components"]["schemas"]
    for name in (
        "ConversationResponse",
        "MessageResponse",
        "StateResponse",
        "ConversationListResponse",
        "MessageListResponse",
        "ErrorResponse",
        "HTTPValidationError",
        "CreateConversationRequest",
        "CreateMessageRequest",
        "UpdateStateRequest",
    ):
        assert name in schemas, name
    assert set(schemas["ConversationListResponse"]["properties"]) == {
        "items", "total", "page", "page_size", "pages"
    }  # fmt: skip
    assert set(schemas["MessageListResponse"]["properties"]) == {"items", "total", "has_more"}
    assert "function" in schemas["CreateMessageRequest"]["properties"]["role"]["enum"]


async def test_swagger_ui_points_at_the_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "/api/v1/openapi.json" in response.text
    assert "swagger-ui" in response.text


#: FastAPI's own 422 models: not ours to describe.
_FASTAPI_MODELS = {"HTTPValidationError", "ValidationError"}


def undescribed(doc: dict[str, Any]) -> list[str]:
    """Parameters and model properties of the document without a description."""
    out = [
        f"{method.upper()} {path} {p['in']}:{p['name']}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        for p in op.get("parameters", [])
        if not (p.get("description") or "").strip()
    ]
    for name, schema in doc["components"]["schemas"].items():
        if name in _FASTAPI_MODELS:
            continue
        out.extend(
            f"{name}.{prop}"
            for prop, s in (schema.get("properties") or {}).items()
            if not (s.get("description") or "").strip()
        )
    return out


async def test_every_parameter_and_model_field_is_described(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    gaps = undescribed(doc)
    assert not gaps, f"{len(gaps)} without a description:\n" + "\n".join(gaps)
    # the walk sees what it checks: a document with a bare parameter and property fails
    bare = {
        "paths": {"/x": {"get": {"parameters": [{"name": "q", "in": "query"}]}}},
        "components": {"schemas": {"M": {"properties": {"f": {"type": "string"}}}}},
    }
    assert undescribed(bare) == ["GET /x query:q", "M.f"]
