"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse


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


async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: live connections, subscriptions, broadcast subscribers, the
    GraphQL fast path's answers and fallbacks (by reason)."""
    state = request.app.state
    values: dict[str, int] = dict(state.subscriptions.stats())
    values.update(state.fast_path.stats.metrics())
    broadcast = state.container.broadcast
    values["broadcast_local_subscribers"] = broadcast.hub.subscriber_count(ready_only=True)
    values["broadcast_channels"] = len(broadcast.hub.channels)
    values["broadcast_connected"] = int(
        getattr(broadcast, "connected", None) is None or broadcast.connected.is_set()
    )
    lines = [f"conversation_service_{name} {value}" for name, value in sorted(values.items())]
    return PlainTextResponse("\n".join(lines) + "\n")
