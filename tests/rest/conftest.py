"""A small REST client over the real ASGI app, bound to the test's tenant."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BASE = "/api/v1"


class Rest:
    def __init__(self, client: httpx.AsyncClient, tenant: str | None) -> None:
        self.client = client
        self.tenant = tenant

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"X-Tenant-ID": self.tenant} if self.tenant is not None else {}
        headers.update(extra or {})
        return headers

    async def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return await self.client.get(BASE + path, headers=self._headers(headers), **kw)

    async def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return await self.client.post(BASE + path, headers=self._headers(headers), **kw)

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.post("/conversations", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def add(self, cid: str, **body: Any) -> dict[str, Any]:
        body.setdefault("role", "user")
        response = await self.post(f"/conversations/{cid}/messages", json=body)
        assert response.status_code == 201, response.text
        added: dict[str, Any] = response.json()
        return added

    def as_tenant(self, tenant: str | None) -> Rest:
        return Rest(self.client, tenant)


@pytest.fixture
def rest(client: httpx.AsyncClient, tenant: str) -> Rest:
    return Rest(client, tenant)


def assert_422(response: httpx.Response, loc: list[Any]) -> None:
    """FastAPI's validation shape, with the expected location first."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    assert detail
    for item in detail:
        assert {"loc", "msg", "type"} <= item.keys()
    assert any(list(item["loc"][: len(loc)]) == loc for item in detail), detail
