"""One id per HTTP request and WebSocket connection: the caller's `X-Request-ID` when it is a
sane token, else a new one; echoed in the response and bound to every log line of the request.

The W3C `traceparent` header's trace id is bound too, so logs join the caller's trace.
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_TENANT_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
STATE_KEY = "request_id"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_id_of(scope: Scope) -> str | None:
    value = scope.get("state", {}).get(STATE_KEY)
    return value if isinstance(value, str) else None


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, HEADER.encode())
        rid = given if given is not None and _TOKEN_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})[STATE_KEY] = rid
        bound: dict[str, str] = {"request_id": rid}
        tenant = _header(scope, b"x-tenant-id")
        if tenant is not None and _TENANT_RE.match(tenant):
            bound["tenant"] = tenant  # as named by the caller; the door still validates it
        trace = _TRACEPARENT_RE.match(_header(scope, b"traceparent") or "")
        if trace is not None:
            bound["trace_id"] = trace.group(1)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        with structlog.contextvars.bound_contextvars(**bound):
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
