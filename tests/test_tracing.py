"""With tracing on, one GraphQL write is one trace: the HTTP server span, its SQL statements and
the Redis publish after commit, all in the same trace; a worker action joins the sender's trace
through the envelope's `trace_id`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.observability.tracing import Tracing
from conversation_service.web.app import create_app


async def test_a_write_is_one_trace_from_http_to_sql_and_redis(
    database_urls: dict[str, Any], redis_url: str, tenant: str
) -> None:
    pg = database_urls["postgresql"]
    if isinstance(pg, BaseException):
        pytest.fail(f"PostgreSQL is not reachable: {pg!r}")
    exporter = InMemorySpanExporter()
    settings = Settings(
        auth_mode="none", database_url=pg, redis_url=redis_url, broadcast_url=redis_url
    )
    tracing = Tracing.start(True, "cs-test", exporter)
    container = await build_container(settings, tracing)
    await upgrade(container.db.engine)
    try:
        app = create_app(container=container)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            exporter.clear()
            res = await http.post(
                "/graphql",
                json={"query": 'mutation { createConversation(input: {title: "t"}) { id } }'},
                headers={"X-Tenant-ID": tenant},
            )
        assert res.status_code == 200
        assert "errors" not in res.json()
        spans = exporter.get_finished_spans()
        server = [s for s in spans if s.kind.name == "SERVER"]
        assert len(server) == 1
        trace_id = server[0].context.trace_id
        sql = [
            s
            for s in spans
            if s.attributes and s.attributes.get("db.system") in ("postgresql", "postgres")
        ]
        assert sql, [s.name for s in spans]
        assert all(s.context.trace_id == trace_id for s in sql)
        publishes = [
            s for s in spans if s.name.upper().startswith("PUBLISH") or "PUBLISH" in s.name.upper()
        ]
        assert publishes, [s.name for s in spans]
        assert all(s.context.trace_id == trace_id for s in publishes)
    finally:
        await container.close()


def test_worker_action_joins_the_senders_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.start(True, "cs-test", exporter)
    sender_trace = "0af7651916cd43dd8448eb211c80319c"
    with tracing.action_span("conversation.add_message", sender_trace):
        pass
    with tracing.action_span("conversation.add_message", "not-a-w3c-id"):
        pass
    joined, own = exporter.get_finished_spans()
    assert format(joined.context.trace_id, "032x") == sender_trace
    assert joined.attributes is not None
    assert joined.attributes["nooble4.action_type"] == "conversation.add_message"
    assert format(own.context.trace_id, "032x") != sender_trace
    assert own.attributes is not None
    assert own.attributes["nooble4.trace_id"] == "not-a-w3c-id"
    tracing.shutdown()


def test_tracing_off_is_a_no_op() -> None:
    off = Tracing.start(False, "x")
    assert not off.enabled
    assert off.middleware() == []
    with off.action_span("conversation.create", None):
        pass
