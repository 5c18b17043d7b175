"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from conversation_service.observability.metrics import StateCollector, exposition


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    container: Any = request.app.state.container
    checks: dict[str, str] = {}
    ok = True
    for name, probe in (("database", container.db.ping), ("broadcast", container.broadcast.ping)):
        try:
            async with asyncio.timeout(2.0):
                await probe()
            checks[name] = "ok"
        except Exception as exc:  # a probe reports, it never raises
            checks[name] = f"unavailable: {type(exc).__name__}"
            ok = False
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


def _pool_stats(engine: Any) -> dict[str, int]:
    pool = engine.pool
    stats: dict[str, int] = {}
    for name in ("size", "checkedin", "checkedout", "overflow"):
        method = getattr(pool, name, None)
        if callable(method):
            stats[name] = int(method())
    return stats


def _broadcast_stats(broadcast: Any) -> dict[str, int]:
    connected = getattr(broadcast, "connected", None)
    return {
        "local_subscribers": broadcast.hub.subscriber_count(ready_only=True),
        "channels": len(broadcast.hub.channels),
        "connected": int(connected is None or connected.is_set()),
    }


async def metrics(request: Request) -> Response:
    """Prometheus text exposition (`prometheus_client`): the process registry plus this app's
    live gauges (sockets, subscriptions, broadcast, database pool, the GraphQL fast path's
    answers and fallbacks; fallbacks by reason are the `fast_path_fallbacks` counter). With `METRICS_TOKEN` set,
    a scrape must send `Authorization: Bearer <token>`."""
    state = request.app.state
    container = state.container
    token = container.settings.metrics_token
    if token and not hmac.compare_digest(
        request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
    ):
        return PlainTextResponse("metrics need the scrape token", status_code=401)
    live = StateCollector(
        [
            ("", "Open WebSocket state", state.subscriptions.stats),
            (
                "broadcast",
                "Local fan-out of this process",
                lambda: _broadcast_stats(container.broadcast),
            ),
            ("db_pool", "Database connection pool", lambda: _pool_stats(container.db.engine)),
            ("graphql_fast_path", "The compiled GraphQL read path", state.fast_path.stats.metrics),
        ]
    )
    return Response(exposition(live), media_type=CONTENT_TYPE_LATEST)
