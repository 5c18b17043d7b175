"""X-Tenant-ID on every route: missing or malformed is FastAPI's 422, checked before any write."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.rest.conftest import Rest, assert_422

CID = str(uuid.uuid4())
ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/conversations", {"title": "x"}),
    ("GET", f"/conversations/{CID}", None),
    ("GET", "/conversations", None),
    ("POST", f"/conversations/{CID}/messages", {"role": "user", "content": "x"}),
    ("GET", f"/conversations/{CID}/messages", None),
    ("POST", f"/conversations/{CID}/state", {"key": "k", "value": 1}),
    ("GET", f"/conversations/{CID}/state/k", None),
]
BAD_TENANTS: list[str | bytes | None] = [
    None,
    "",
    "has space",
    "x" * 65,
    "a/b",
    "ténant".encode("latin-1"),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_requires_a_valid_tenant(
    rest: Rest, method: str, path: str, body: Any
) -> None:
    for bad in BAD_TENANTS:
        client = rest.as_tenant(None)
        headers: dict[str, Any] = {} if bad is None else {"X-Tenant-ID": bad}
        if method == "GET":
            response = await client.get(path, headers=headers)
        else:
            response = await client.post(path, headers=headers, json=body)
        assert_422(response, ["header", "X-Tenant-ID"])
    listed = await rest.as_tenant("has space").get("/conversations")
    assert listed.status_code == 422


async def test_tenant_header_accepts_the_full_alphabet(rest: Rest) -> None:
    tenant = f"Acme_1.eu:prod-{uuid.uuid4().hex[:6]}"
    created = await rest.as_tenant(tenant).create(title="ok")
    assert created["tenant_id"] == tenant
