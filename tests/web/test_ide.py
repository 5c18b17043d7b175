"""GraphiQL and Swagger UI render in a real headless browser with every outside host unreachable.

Skipped when Chromium is absent, except under CI=true, where `.ci/run` installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conversation_service.config import Settings
from tests.realtime.conftest import LiveServer, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
async def server(database_urls: dict[str, Any]) -> AsyncIterator[LiveServer]:
    live = await start_server(Settings(auth_mode="none", database_url=database_urls["sqlite"]))
    try:
        yield live
    finally:
        await live.stop()
        await live.container.close()


async def _rendered_dom(url: str) -> str:
    """The DOM after the page's scripts ran, with every host but 127.0.0.1 unresolvable (offline)."""
    if CHROMIUM is None:
        if CI:
            pytest.fail("Chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("Chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(90):
            out, _ = await proc.communicate()
    return out.decode()


async def test_pages_reference_no_outside_host(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        graphiql = await http.get("/graphql", headers={"Accept": "text/html"})
        swagger = await http.get("/api/v1/docs")
        bundle = await http.get("/assets/graphiql/graphiql.min.js")
    assert graphiql.status_code == swagger.status_code == bundle.status_code == 200
    for page in (graphiql.text, swagger.text):
        assert "https://" not in page.replace("https://github.com", "")
        assert "unpkg" not in page
        assert "jsdelivr" not in page
    assert '\\"X-Tenant-ID\\"' in graphiql.text  # pre-filled header editor
    assert "etag" in bundle.headers


async def test_graphiql_renders_offline(server: LiveServer) -> None:
    dom = await _rendered_dom(f"{server.http_url}/graphql")
    assert "Loading..." not in dom
    assert 'class="graphiql-editor' in dom
    assert "X-Tenant-ID" in dom  # the header editor shows the tenant header to fill in


async def test_swagger_ui_renders_offline(server: LiveServer) -> None:
    dom = await _rendered_dom(f"{server.http_url}/api/v1/docs")
    # Swagger UI fetched the OpenAPI document and drew every route.
    for path in ("/conversations", "/conversations/{conversation_id}/messages"):
        assert f'data-path="{path}"' in dom
