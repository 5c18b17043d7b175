"""ASGI middleware counting and timing every HTTP request by door and operation.

Pure ASGI (not `BaseHTTPMiddleware`, which buffers bodies and adds a task per request). The door
is known from the path; the operation from what the handler records in the scope (`record_operation`:
a GraphQL operation name, bounded) or, on REST, from the matched route's template.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conversation_service.observability.metrics import OPERATION_NAMES, REQUEST_SECONDS, REQUESTS

_OPERATION_KEY = "cs.operation"


def record_operation(scope: Scope, name: str | None) -> None:
    """Called by the GraphQL door with the request's operation name (any caller's string)."""
    scope.setdefault("state", {})[_OPERATION_KEY] = OPERATION_NAMES.label(name)


def _door(path: str) -> str:
    if path == "/graphql":
        return "graphql"
    if path.startswith("/api/v1/"):
        return "rest"
    return "other"


def _operation(scope: Scope, door: str) -> str:
    recorded = scope.get("state", {}).get(_OPERATION_KEY)
    if isinstance(recorded, str):
        return recorded
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    if door == "rest" and isinstance(template, str):
        methods = getattr(route, "methods", None) or {scope.get("method", "")}
        return (
            f"{scope.get('method', '')} {template}" if scope.get("method") in methods else template
        )
    return "-"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            door = _door(scope.get("path", ""))
            if door != "other" or scope.get("path") != "/metrics":
                operation = _operation(scope, door)
                REQUESTS.labels(door, operation, f"{status // 100}xx").inc()
                REQUEST_SECONDS.labels(door, operation).observe(time.perf_counter() - start)
