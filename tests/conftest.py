"""Fixtures: real PostgreSQL and SQLite databases created and dropped per run, unique tenants per
test, the real ASGI app over HTTP. Under CI=true a missing PostgreSQL or Redis fails the run."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from conversation_service.adapters.database import Database
from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.web.app import create_app

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgresql"]


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc!r}"
    if CI:
        pytest.fail(f"{message} (CI=true: real services are required)", pytrace=False)
    pytest.skip(message)


async def _create_pg_database() -> str:
    name = f"cs_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def database_urls(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """One fresh database per backend for the whole run, migrated with Alembic."""
    urls: dict[str, Any] = {}
    sqlite_path = Path(tmp_path_factory.mktemp("sqlite")) / "test.db"
    urls["sqlite"] = f"sqlite+aiosqlite:///{sqlite_path}"
    pg_name: str | None = None
    try:
        pg_name = await _create_pg_database()
        urls["postgresql"] = pg_url(pg_name)
    except (OSError, asyncpg.PostgresError) as exc:
        urls["postgresql"] = exc
    try:
        yield urls
    finally:
        if pg_name is not None:
            await _drop_pg_database(pg_name)


_containers: dict[str, Container] = {}


@pytest.fixture(scope="session")
async def _container_pool(database_urls: dict[str, Any]) -> AsyncIterator[dict[str, Container]]:
    try:
        yield _containers
    finally:
        for c in _containers.values():
            await c.close()
        _containers.clear()


@pytest.fixture(params=BACKENDS)
async def container(
    request: pytest.FixtureRequest,
    database_urls: dict[str, Any],
    _container_pool: dict[str, Container],
) -> Container:
    backend: str = request.param
    url = database_urls[backend]
    if isinstance(url, BaseException):
        _unavailable("PostgreSQL", url)
    if backend not in _container_pool:
        c = await build_container(
            Settings(auth_mode="none", database_url=url, fast_path_verify=True)
        )
        await upgrade(c.db.engine)
        _container_pool[backend] = c
    return _container_pool[backend]


@pytest.fixture
def db(container: Container) -> Database:
    return container.db


@pytest.fixture
def tenant() -> str:
    """Every test writes under its own tenant, so tests never see each other's rows."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def unlimited_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app with RATE_LIMIT raised, for tests that send one tenant's requests faster than
    the default (100 a second) admits on a fast machine."""
    limiter = RateLimiter("1000000/second")
    app = create_app(container=dataclasses.replace(container, rate_limiter=limiter))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class GQL:
    """A tiny GraphQL client over the real ASGI app."""

    def __init__(self, client: httpx.AsyncClient, tenant: str | None) -> None:
        self.client = client
        self.tenant = tenant

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"X-Tenant-ID": self.tenant} if self.tenant else {}
        headers.update(kw.pop("headers", {}))
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers, **kw
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def as_tenant(self, tenant: str | None) -> GQL:
        return GQL(self.client, tenant)


@pytest.fixture
def gql(client: httpx.AsyncClient, tenant: str) -> GQL:
    return GQL(client, tenant)


@pytest.fixture
def unlimited_gql(unlimited_client: httpx.AsyncClient, tenant: str) -> GQL:
    return GQL(unlimited_client, tenant)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture(scope="session")
async def redis_url() -> str:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    finally:
        await client.aclose()
    return REDIS_URL
