"""POST/GET /api/v1/conversations and GET /api/v1/conversations/{id}."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.rest.conftest import Rest, assert_422


async def test_create_returns_201_in_the_legacy_shape(rest: Rest, tenant: str) -> None:
    response = await rest.post(
        "/conversations",
        json={
            "user_id": "u1",
            "agent_id": "a1",
            "session_id": "s1",
            "title": "Soporte",
            "tags": ["support", "vip"],
            "metadata": {"channel": "web"},
            "participants": [
                {"id": "u1", "display_name": "Ana", "joined_at": "2024-05-01T10:00:00"}
            ],
            "customer_info": {"email": "ana@example.com"},
            "crm_references": {"customer_id": "c-9"},
            "initial_messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Hola"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    body = response.json()
    assert body["id"] == body["conversation_id"]
    assert uuid.UUID(body["id"])
    assert body["tenant_id"] == tenant
    assert body["status"] == "active"
    assert body["tags"] == ["support", "vip"]
    assert body["metadata"] == {"channel": "web"}
    assert body["participants"] == [
        {
            "id": "u1",
            "kind": "user",
            "display_name": "Ana",
            "joined_at": "2024-05-01T10:00:00+00:00",
        }
    ]
    assert body["customer_info"] == {"email": "ana@example.com"}
    assert body["crm_references"] == {"customer_id": "c-9"}
    assert body["message_count"] == 2
    assert body["last_seq"] == 2
    assert body["created_at"].endswith("+00:00")
    messages = (await rest.get(f"/conversations/{body['id']}/messages")).json()["items"]
    assert [(m["seq"], m["role"], m["content"]) for m in messages] == [
        (1, "system", "You are helpful."),
        (2, "user", "Hola"),
    ]


async def test_create_with_caller_id_is_idempotent(rest: Rest) -> None:
    cid = str(uuid.uuid4())
    first = await rest.post("/conversations", json={"conversation_id": cid, "title": "one"})
    again = await rest.post("/conversations", json={"id": cid, "title": "two"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["id"] == cid
    listed = (await rest.get("/conversations")).json()
    assert listed["total"] == 1


async def test_get_conversation_and_404s(rest: Rest) -> None:
    created = await rest.create(title="t")
    got = await rest.get(f"/conversations/{created['id']}")
    assert got.status_code == 200
    assert got.json() == created
    for missing in (str(uuid.uuid4()), "not-a-uuid", "x" * 300):
        response = await rest.get(f"/conversations/{missing}")
        assert response.status_code == 404, response.text
        assert isinstance(response.json()["detail"], str)
    other = await rest.as_tenant(f"other-{uuid.uuid4().hex[:8]}").get(
        f"/conversations/{created['id']}"
    )
    assert other.status_code == 404
    assert other.json() == {"detail": f"conversation {created['id']} not found"}


async def test_list_filters_and_pages(rest: Rest) -> None:
    a = await rest.create(user_id="u1", agent_id="a1", tags=["x", "y"])
    b = await rest.create(user_id="u1", agent_id="a2", tags=["x"])
    c = await rest.create(user_id="u2", agent_id="a1", tags=["y"])

    async def ids(**params: Any) -> list[str]:
        response = await rest.get("/conversations", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [c["id"], b["id"], a["id"]]  # newest first
    assert await ids(user_id="u1") == [b["id"], a["id"]]
    assert await ids(agent_id="a1") == [c["id"], a["id"]]
    assert await ids(tags=["x", "y"]) == [a["id"]]
    assert await ids(tags="x") == [b["id"], a["id"]]
    assert await ids(status="active") == [c["id"], b["id"], a["id"]]
    assert await ids(status="archived") == []
    assert await ids(from_date=b["created_at"]) == [c["id"], b["id"]]
    assert await ids(to_date=b["created_at"]) == [b["id"], a["id"]]
    assert await ids(from_date="2000-01-01", to_date="2000-01-02T00:00:00Z") == []

    page2 = (await rest.get("/conversations", params={"page": 2, "page_size": 2})).json()
    assert page2["total"] == 3
    assert page2["page"] == 2
    assert page2["page_size"] == 2
    assert page2["pages"] == 2
    assert [i["id"] for i in page2["items"]] == [a["id"]]
    defaults = (await rest.get("/conversations")).json()
    assert (defaults["page"], defaults["page_size"], defaults["pages"]) == (1, 20, 1)
    empty = (await rest.get("/conversations", params={"page": 9})).json()
    assert empty["items"] == []
    assert empty["total"] == 3


async def test_list_is_per_tenant(rest: Rest) -> None:
    await rest.create(user_id="u1")
    other = await rest.as_tenant(f"other-{uuid.uuid4().hex[:8]}").get("/conversations")
    assert other.status_code == 200
    assert other.json() == {"items": [], "total": 0, "page": 1, "page_size": 20, "pages": 0}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"page": 0}, ["query", "page"]),
        ({"page": -1}, ["query", "page"]),
        ({"page": "abc"}, ["query", "page"]),
        ({"page": 2**40}, ["query", "page"]),
        ({"page_size": 0}, ["query", "page_size"]),
        ({"page_size": 101}, ["query", "page_size"]),
        ({"page_size": "1.5"}, ["query", "page_size"]),
        ({"status": "ACTIVE"}, ["query", "status"]),
        ({"status": "open"}, ["query", "status"]),
        ({"from_date": "yesterday"}, ["query", "from_date"]),
        ({"to_date": "2024-13-01"}, ["query", "to_date"]),
        ({"from_date": "0001-01-01T00:00:00+05:00"}, ["query", "from_date"]),
        ({"from_date": "2024-02-01", "to_date": "2024-01-01"}, ["query", "from_date"]),
        ({"user_id": "a\x00b"}, ["query", "user_id"]),
        ({"agent_id": "x" * 300}, ["query", "agent_id"]),
        ({"tags": ["x" * 65]}, ["query", "tags"]),
    ],
)
async def test_list_rejects_bad_parameters(
    rest: Rest, params: dict[str, Any], loc: list[str]
) -> None:
    assert_422(await rest.get("/conversations", params=params), loc)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ([1, 2], ["body"]),
        ({"status": "open"}, ["body", "status"]),
        ({"status": "ACTIVE"}, ["body", "status"]),
        ({"tags": "support"}, ["body", "tags"]),
        ({"tags": ["ok", ""]}, ["body", "tags"]),
        ({"tags": [f"t{i}" for i in range(51)]}, ["body", "tags"]),
        ({"title": "x" * 501}, ["body", "title"]),
        ({"user_id": 7}, ["body", "user_id"]),
        ({"user_id": ""}, ["body", "user_id"]),
        ({"id": "not-a-uuid"}, ["body", "id"]),
        ({"metadata": [1]}, ["body", "metadata"]),
        ({"metadata": {"big": "x" * 70_000}}, ["body", "metadata"]),
        ({"metadata": {"n": "a\x00b"}}, ["body", "metadata"]),
        ({"participants": [{"kind": "user"}]}, ["body", "participants", 0, "id"]),
        ({"participants": [{"id": "p", "joined_at": "soon"}]}, ["body", "participants", 0]),
        ({"initial_messages": [{"role": "user", "content": " "}]}, ["body", "initial_messages"]),
        ({"initial_messages": [{"role": "robot", "content": "x"}]}, ["body", "initial_messages"]),
    ],
)
async def test_create_rejects_bad_bodies(rest: Rest, body: Any, loc: list[Any]) -> None:
    assert_422(await rest.post("/conversations", json=body), loc)
    assert (await rest.get("/conversations")).json()["total"] == 0  # nothing half-written


async def test_domain_field_paths_become_fastapi_locations(rest: Rest) -> None:
    response = await rest.post(
        "/conversations",
        json={
            "initial_messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": ""}]
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "initial_messages", 1, "content"]
    assert response.json()["detail"][0]["type"] == "value_error"


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{bad json", {"Content-Type": "application/json"}),
        (b'{"title": "\\ud800"}', {"Content-Type": "application/json"}),
        (b'{"metadata": {"x": NaN}}', {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
        (b"title=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
async def test_create_rejects_malformed_json(
    rest: Rest, content: bytes, headers: dict[str, str]
) -> None:
    assert_422(await rest.post("/conversations", content=content, headers=headers), ["body"])


async def test_body_without_content_type_is_read_as_json(rest: Rest) -> None:
    response = await rest.post("/conversations", content=b'{"title": "legacy"}')
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "legacy"
