"""Everything every HTTP request passes through, as one pure ASGI layer: its request id, its
metrics, its tenant's rate limit and its body limit (in that order, as four middlewares did).

One layer instead of four: the headers are read in one pass, the response goes through one
send wrapper, and there is one coroutine frame per request instead of four. What each step does
is unchanged and lives beside its helpers (`request_id`, `request_metrics`, `rate_limit`,
`body_limit`). WebSocket connections get their id and log context here too; the WebSocket door
applies its own limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.observability.metrics import REQUEST_SECONDS, REQUESTS
from conversation_service.web.body_limit import BodyTooLarge, body_error, read_body, send_json_error
from conversation_service.web.rate_limit import (
    GRAPHQL_PATH,
    REST_PREFIX,
    rate_limit_tenant,
    refusal,
)
from conversation_service.web.request_id import (
    HEADER,
    STATE_KEY,
    TENANT_RE,
    TOKEN_RE,
    TRACEPARENT_RE,
)
from conversation_service.web.request_metrics import door_of, operation_of

_REQUEST_ID = HEADER.encode()


class HttpDoor:
    """Request id -> metrics -> rate limit -> body limit -> the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Callable[[], RateLimiter | None],
        max_bytes: int,
        timeout_s: float,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        given = tenant = trace = accept = None
        tenants = accepts = 0
        declared = -1
        for key, value in scope.get("headers", ()):
            if key == _REQUEST_ID:
                given = value if given is None else given
            elif key == b"x-tenant-id":
                tenants += 1
                tenant = value if tenant is None else tenant
            elif key == b"traceparent":
                trace = value if trace is None else trace
            elif key == b"accept":
                accepts += 1
                accept = value if accept is None else accept
            elif key == b"content-length":
                with contextlib.suppress(ValueError):
                    declared = max(declared, int(value))
        given_text = given.decode("latin-1") if given is not None else None
        rid = given_text if given_text is not None and TOKEN_RE.match(given_text) else None
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})[STATE_KEY] = rid
        bound: dict[str, str] = {"request_id": rid}
        tenant_text = tenant.decode("latin-1") if tenant is not None else None
        if tenant_text is not None and TENANT_RE.match(tenant_text):
            bound["tenant"] = tenant_text  # as named by the caller; the door still validates it
        matched = TRACEPARENT_RE.match(trace.decode("latin-1")) if trace is not None else None
        if matched is not None:
            bound["trace_id"] = matched.group(1)
        with structlog.contextvars.bound_contextvars(**bound):
            if kind == "websocket":
                await self.app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def respond(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    MutableHeaders(scope=message)[HEADER] = rid
                await send(message)

            try:
                counted = tenant_text if tenants == 1 else None  # sent twice: the door answers
                await self._limited(
                    scope,
                    receive,
                    respond,
                    counted,
                    accept.decode("latin-1") if accepts == 1 and accept is not None else None,
                    declared,
                )
            finally:
                path = scope.get("path", "")
                door = door_of(path)
                if door != "other" or path != "/metrics":
                    operation = operation_of(scope, door)
                    REQUESTS.labels(door, operation, f"{status // 100}xx").inc()
                    REQUEST_SECONDS.labels(door, operation).observe(time.perf_counter() - start)

    async def _limited(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        tenant_header: str | None,
        accept: str | None,
        declared: int,
    ) -> None:
        # The rate limit counts a request before anything reads its body.
        path: str = scope["path"]
        graphql = path == GRAPHQL_PATH
        limiter = self.limiter() if graphql or path.startswith(REST_PREFIX) else None
        tenant = rate_limit_tenant(tenant_header) if limiter else None
        refused = await limiter.check(tenant, "http") if limiter and tenant else None
        if refused is not None:
            status, media, body = refusal(refused, graphql=graphql, accept=accept)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", f"{media}; charset=utf-8".encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(refused.seconds).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        # The body limit: 413 from Content-Length alone, else read it within the deadline.
        if declared > self.max_bytes:
            await send_json_error(send, 413, body_error(self.max_bytes, None))
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                content = await read_body(receive, self.max_bytes)
        except TimeoutError:
            await send_json_error(send, 408, body_error(self.max_bytes, self.timeout_s))
            return
        except BodyTooLarge:
            await send_json_error(send, 413, body_error(self.max_bytes, None))
            return
        if content is None:  # the client went away
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": content, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
