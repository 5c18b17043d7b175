"""HTTP limits against a real uvicorn server: body size, body and header deadlines."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson

from tests.http.conftest import Serve

QUERY = "{ conversations(first: 1) { totalCount } }"
LIMIT = 2_097_152  # MAX_BODY_BYTES default


def body_of_size(size: int) -> bytes:
    """A valid GraphQL request of exactly `size` bytes (padding in an unused variable)."""
    empty = orjson.dumps({"query": QUERY, "variables": {"pad": ""}})
    pad = size - len(empty)
    assert pad >= 0
    return orjson.dumps({"query": QUERY, "variables": {"pad": "x" * pad}})


def tenant_headers() -> dict[str, str]:
    return {"X-Tenant-ID": f"t-{uuid.uuid4().hex[:12]}", "Content-Type": "application/json"}


async def test_body_exactly_at_the_limit_passes_one_byte_over_is_413(serve: Serve) -> None:
    async with serve() as srv, httpx.AsyncClient(base_url=srv.http_url, timeout=30) as c:
        at = body_of_size(LIMIT)
        assert len(at) == LIMIT
        r = await c.post("/graphql", content=at, headers=tenant_headers())
        assert r.status_code == 200, r.text
        assert r.json() == {"data": {"conversations": {"totalCount": 0}}}
        over = body_of_size(LIMIT + 1)
        r = await c.post("/graphql", content=over, headers=tenant_headers())
        assert r.status_code == 413
        error = r.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "limit": "MAX_BODY_BYTES"}
        assert r.headers["connection"] == "close"


async def test_chunked_body_is_counted_while_streaming(serve: Serve) -> None:
    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 65_536):
            yield data[i : i + 65_536]

    async with serve() as srv, httpx.AsyncClient(base_url=srv.http_url, timeout=30) as c:
        r = await c.post("/graphql", content=chunks(body_of_size(LIMIT)), headers=tenant_headers())
        assert r.status_code == 200
        r = await c.post(
            "/graphql", content=chunks(body_of_size(LIMIT + 1)), headers=tenant_headers()
        )
        assert r.status_code == 413
        assert r.json()["errors"][0]["extensions"]["limit"] == "MAX_BODY_BYTES"


async def test_rest_bodies_are_limited_too(serve: Serve) -> None:
    async with serve(max_body_bytes=1000) as srv, httpx.AsyncClient(base_url=srv.http_url) as c:
        body = {"user_id": "u", "agent_id": "a", "metadata": {"pad": "x" * 2000}}
        r = await c.post("/api/v1/conversations", json=body, headers=tenant_headers())
        assert r.status_code == 413
        assert "1000 bytes" in r.json()["detail"]
        r = await c.post(
            "/api/v1/conversations",
            json={"user_id": "u", "agent_id": "a"},
            headers=tenant_headers(),
        )
        assert r.status_code == 201


async def test_declared_oversize_body_is_refused_before_it_is_sent(serve: Serve) -> None:
    """Content-Length over the limit: 413 at once, without waiting for a single body byte."""
    async with serve() as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 209715200\r\n\r\n"
            )
            await writer.drain()
            async with asyncio.timeout(5):
                status = await reader.readline()
                rest = await reader.read()  # the server closes the connection
            assert status.startswith(b"HTTP/1.1 413")
            assert b"MAX_BODY_BYTES" in rest
        finally:
            writer.close()


async def _raw_until_closed(port: int, payload: bytes, budget_s: float) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(budget_s):
            answer = await reader.read()  # returns b"" / the answer once the server closes
        return answer, time.monotonic() - started
    finally:
        writer.close()


async def test_slow_body_is_cut_off_after_the_body_timeout(serve: Serve) -> None:
    async with serve(http_body_timeout_s=0.5) as srv:
        head = (
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'X-Tenant-ID: t1\r\nContent-Length: 100\r\n\r\n{"query":'
        )
        answer, elapsed = await _raw_until_closed(srv.port, head, 5)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"HTTP_BODY_TIMEOUT_S" in answer
        assert 0.4 <= elapsed < 3


async def test_slow_headers_are_cut_off_after_the_header_timeout(serve: Serve) -> None:
    async with serve(http_header_timeout_s=0.5) as srv:
        answer, elapsed = await _raw_until_closed(
            srv.port, b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Tenant", 5
        )
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert 0.4 <= elapsed < 3
        # A connection that never sends a byte is closed too.
        answer, elapsed = await _raw_until_closed(srv.port, b"", 5)
        assert answer.startswith(b"HTTP/1.1 408")
        # And a normal request on the same server is unaffected.
        async with httpx.AsyncClient(base_url=srv.http_url) as c:
            r = await c.post("/graphql", json={"query": QUERY}, headers={"X-Tenant-ID": "t1"})
            assert r.status_code == 200


async def test_oversized_headers_are_431(serve: Serve) -> None:
    async with serve(http_max_header_bytes=4096) as srv:
        huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8192
        answer, _ = await _raw_until_closed(srv.port, huge, 5)
        assert answer.startswith(b"HTTP/1.1 431"), answer
        async with httpx.AsyncClient(base_url=srv.http_url) as c:
            r = await c.get("/healthz", headers={"X-Pad": "a" * 3000})
            assert r.status_code == 200


async def test_connections_over_the_limit_get_503_at_once(serve: Serve) -> None:
    async with serve(http_max_connections=4) as srv:
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(4)]
        try:
            async with httpx.AsyncClient(base_url=srv.http_url) as c:
                r = await c.get("/healthz")
                assert r.status_code == 503
        finally:
            for _reader, writer in idle:
                writer.close()
        async with httpx.AsyncClient(base_url=srv.http_url) as c:
            async with asyncio.timeout(5):
                while (await c.get("/healthz")).status_code != 200:
                    await asyncio.sleep(0.05)  # until the server has seen the closes


def test_default_connection_limit_follows_the_descriptor_limit() -> None:
    import resource

    from conversation_service.config import Settings
    from conversation_service.web.server import FD_RESERVE, max_connections

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert max_connections(Settings()) == max(64, soft - FD_RESERVE)
    assert max_connections(Settings(http_max_connections=7)) == 7
