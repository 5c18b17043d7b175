"""`/metrics` in the Prometheus text format, readable by Prometheus' own tools."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conversation_service.config import Settings
from tests.realtime.conftest import start_server

PROMTOOL = shutil.which("promtool")


async def _scrape(http: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    return await http.get("/metrics", **kw)


async def test_metrics_are_typed_and_count_requests(client: httpx.AsyncClient, tenant: str) -> None:
    headers = {"X-Tenant-ID": tenant}
    q = {
        "query": "query Recent { conversations(first: 1) { totalCount } }",
        "operationName": "Recent",
    }
    for _ in range(3):
        assert (await client.post("/graphql", json=q, headers=headers)).status_code == 200
    assert (await client.get("/api/v1/conversations", headers=headers)).status_code == 200
    res = await _scrape(client)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(res.text)}
    assert all(f.type != "unknown" for f in families.values()), [
        f.name for f in families.values() if f.type == "unknown"
    ]
    assert all(f.documentation for f in families.values())
    requests = families["conversation_service_requests"]
    counts = {
        (s.labels["door"], s.labels["operation"]): s.value
        for s in requests.samples
        if s.name.endswith("_total")
    }
    assert counts[("graphql", "Recent")] >= 3
    assert counts[("rest", "GET /conversations")] >= 1
    assert "conversation_service_request_duration_seconds" in families
    assert "process_resident_memory_bytes" in families
    assert "conversation_service_ws_connections" in families
    assert "conversation_service_db_pool_checkedout" in families


def test_operation_names_are_a_bounded_label_set() -> None:
    from conversation_service.observability.metrics import OperationNames

    names = OperationNames(limit=3)
    assert [names.label(n) for n in ("a", "b", "c", "d", "a")] == ["a", "b", "c", "other", "a"]
    assert names.label(None) == "anonymous"
    assert names.label("x" * 65) == "other"
    assert names.label("bad name") == "other"


async def test_promtool_finds_nothing(client: httpx.AsyncClient, tenant: str) -> None:
    if PROMTOOL is None:
        import pytest

        pytest.skip("promtool is not installed (Debian package prometheus)")
    await client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Tenant-ID": tenant})
    text = (await _scrape(client)).text
    proc = await asyncio.create_subprocess_exec(
        PROMTOOL,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(text.encode())
    assert out.decode().strip() == "", out.decode()
    assert proc.returncode == 0


async def test_metrics_token(database_urls: dict[str, Any]) -> None:
    live = await start_server(
        Settings(auth_mode="none", database_url=database_urls["sqlite"], metrics_token="s3cret")
    )
    try:
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            assert (await _scrape(http)).status_code == 401
            assert (
                await _scrape(http, headers={"Authorization": "Bearer nope"})
            ).status_code == 401
            ok = await _scrape(http, headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200
            assert "conversation_service_requests" in ok.text
    finally:
        await live.stop()
        await live.container.close()


async def test_graphql_errors_are_counted_by_code(client: httpx.AsyncClient, tenant: str) -> None:
    def count(text: str, code: str) -> float:
        for family in text_string_to_metric_families(text):
            if family.name == "conversation_service_graphql_errors":
                for s in family.samples:
                    if s.name.endswith("_total") and s.labels["code"] == code:
                        return s.value
        return 0.0

    before = count((await _scrape(client)).text, "NOT_FOUND")
    q = {
        "query": '{ messages(conversationId: "00000000-0000-0000-0000-000000000000") { totalCount } }'
    }
    await client.post("/graphql", json=q, headers={"X-Tenant-ID": tenant})
    assert count((await _scrape(client)).text, "NOT_FOUND") >= before + 1
