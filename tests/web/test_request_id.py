"""Every log line of a request is JSON and carries the request's id; the id is echoed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest

from conversation_service.observability.logs import configure_logging


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    configure_logging("INFO", "json", stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)


async def test_request_id_is_echoed_and_generated(client: httpx.AsyncClient, tenant: str) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "req-42.a:b"})
    assert given.headers["x-request-id"] == "req-42.a:b"
    made = await client.get("/healthz")
    other = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] != other.headers["x-request-id"]
    # An id that is not a sane token (log injection, huge) is replaced, not echoed.
    bad = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert bad.headers["x-request-id"] != "x" * 500


async def test_every_log_line_of_a_request_is_json_with_its_id(
    client: httpx.AsyncClient, tenant: str, json_logs: io.StringIO
) -> None:
    res = await client.post(
        "/graphql",
        json={"query": "{ noSuchField }"},
        headers={
            "X-Tenant-ID": tenant,
            "X-Request-ID": "rid-1",
            "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        },
    )
    assert res.status_code == 400
    every = [orjson.loads(line) for line in json_logs.getvalue().splitlines()]
    lines = [line for line in every if line["logger"] != "httpx"]  # the test's own client
    assert lines, "a client error is logged once"
    for line in lines:
        assert line["request_id"] == "rid-1"
        assert line["trace_id"] == "a" * 32
        assert line["tenant"] == tenant
        assert {"event", "level", "timestamp", "logger"} <= line.keys()
