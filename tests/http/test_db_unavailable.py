"""A database that is down, frozen or too slow answers UNAVAILABLE quickly, and the service
recovers without a restart. Runs against a private PostgreSQL (see own_postgres.py)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from conversation_service.config import Settings
from tests.conftest import CI
from tests.http.own_postgres import OwnPostgres
from tests.realtime.conftest import LiveServer, free_port, start_server

TIMEOUT_MS = 1000  # DB_STATEMENT_TIMEOUT_MS for these tests (default 5000)
GRAPHQL_RESPONSE = "application/graphql-response+json"
FAST_QUERY = "{ conversations(first: 1) { totalCount } }"
MUTATION = "mutation { createConversation(input: {}) { id } }"


@pytest.fixture(scope="module")
def own_pg() -> Iterator[OwnPostgres]:
    if not OwnPostgres.available():
        if CI:
            pytest.fail("PostgreSQL binaries are required under CI=true", pytrace=False)
        pytest.skip("PostgreSQL binaries not installed")
    # Not under pytest's per-user temporary directory: the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="cs-own-pg-"))
    pg = OwnPostgres(root, free_port())
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg.thaw()
        with contextlib.suppress(Exception):
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def live(own_pg: OwnPostgres) -> AsyncIterator[LiveServer]:
    settings = Settings(
        auth_mode="none",
        database_url=own_pg.url,
        db_statement_timeout_ms=TIMEOUT_MS,
        db_pool_timeout_s=1.0,
    )
    srv = await start_server(settings)
    try:
        yield srv
    finally:
        own_pg.thaw()
        await srv.stop()
        await srv.container.close()


class Calls:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.c = client
        self.tenant = f"t-{uuid.uuid4().hex[:12]}"

    async def graphql(self, query: str, accept: str = "application/json") -> httpx.Response:
        return await self.c.post(
            "/graphql",
            json={"query": query},
            headers={"X-Tenant-ID": self.tenant, "Accept": accept},
        )

    async def rest(self) -> httpx.Response:
        return await self.c.get("/api/v1/conversations", headers={"X-Tenant-ID": self.tenant})

    async def assert_unavailable(self, budget_s: float) -> dict[str, float]:
        """Every door answers UNAVAILABLE within `budget_s`; returns the time each took."""
        took: dict[str, float] = {}
        calls: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
            ("graphql query", lambda: self.graphql(FAST_QUERY)),
            ("graphql mutation", lambda: self.graphql(MUTATION, GRAPHQL_RESPONSE)),
            ("rest", self.rest),
        ]
        for name, call in calls:
            started = time.monotonic()
            r = await call()
            took[name] = time.monotonic() - started
            assert took[name] < budget_s, (name, took[name])
            if name == "rest":
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"] == "5"
                assert "unavailable" in r.json()["detail"]
                continue
            codes = [e["extensions"]["code"] for e in r.json()["errors"]]
            assert codes == ["UNAVAILABLE"], r.text
            assert r.headers["retry-after"] == "5"
            if name == "graphql mutation":
                assert r.status_code == 503
            else:
                assert r.status_code == 200  # legacy application/json: always 200
        return took

    async def assert_recovers(self, within_s: float) -> float:
        started = time.monotonic()
        while True:
            r = await self.graphql(MUTATION)
            if "errors" not in r.json() and (await self.rest()).status_code == 200:
                return time.monotonic() - started
            assert time.monotonic() - started < within_s, r.text
            await asyncio.sleep(0.1)


async def test_stopped_database_is_unavailable_then_recovers(
    live: LiveServer, own_pg: OwnPostgres
) -> None:
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as c:
        calls = Calls(c)
        assert (await calls.graphql(MUTATION)).json()["data"]
        own_pg.stop()
        try:
            took = await calls.assert_unavailable(budget_s=3 * TIMEOUT_MS / 1000)
        finally:
            own_pg.start()
        recovered = await calls.assert_recovers(within_s=10)
        print(f"stopped: {took}; recovered after start in {recovered:.2f} s")


async def test_frozen_database_is_unavailable_within_the_timeout_then_recovers(
    live: LiveServer, own_pg: OwnPostgres
) -> None:
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as c:
        calls = Calls(c)
        assert (await calls.graphql(MUTATION)).json()["data"]
        own_pg.freeze()
        try:
            took = await calls.assert_unavailable(budget_s=3 * TIMEOUT_MS / 1000 + 1)
        finally:
            own_pg.thaw()
        recovered = await calls.assert_recovers(within_s=10)
        print(f"frozen: {took}; recovered after thaw in {recovered:.2f} s")


async def test_statement_timeout_is_unavailable(live: LiveServer, own_pg: OwnPostgres) -> None:
    """A statement blocked past DB_STATEMENT_TIMEOUT_MS is cancelled by the server."""
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as c:
        calls = Calls(c)
        assert (await calls.graphql(MUTATION)).json()["data"]
        blocker = await asyncpg.connect(own_pg.url.replace("+asyncpg", ""))
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
            took = await calls.assert_unavailable(budget_s=3 * TIMEOUT_MS / 1000 + 1)
            await tx.rollback()
        finally:
            await blocker.close()
        recovered = await calls.assert_recovers(within_s=5)
        print(f"statement timeout: {took}; recovered in {recovered:.2f} s")
