"""The rate limit at the HTTP door: a pure ASGI middleware in front of `/graphql` and `/api/v1`.

It counts a request before anything reads its body, so a refused request costs one limiter
check and no parsing. The tenant is the one `rate_limit_tenant` names (today the validated
`X-Tenant-ID`); requests without a valid tenant pass on and their door refuses them as before.
The WebSocket door calls `RateLimiter.check` itself (at connect and at each subscribe).

Refusals, per the contract: GraphQL `extensions.code = "RATE_LIMITED"` with
`extensions.retryAfter`, HTTP 200 under `application/json` and 429 under
`application/graphql-response+json`; REST 429 `{"detail": ...}`; `Retry-After` on every one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from conversation_service.adapters.rate_limits import Kind, RateLimiter, RetryAfter
from conversation_service.domain.errors import Unauthenticated
from conversation_service.domain.validation import tenant_id as validate_tenant
from conversation_service.web.graphql_http import GRAPHQL_RESPONSE, JSON, _negotiate

GRAPHQL_PATH = "/graphql"
REST_PREFIX = "/api/v1/"


def rate_limit_tenant(scope: Scope) -> str | None:
    """The key a request is counted under, or None (not counted here): the tenant of the
    principal the authentication middleware admitted (AUTH_MODE=required: never a header anyone
    can forge), else the validated `X-Tenant-ID` (AUTH_MODE=none, where naming is acting)."""
    principal = scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.tenant_id)
    try:
        return validate_tenant(_header(scope, b"x-tenant-id"))
    except Unauthenticated:
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    found: str | None = None
    for key, value in scope["headers"]:
        if key == name:
            if found is not None:
                return None  # sent twice: the door answers it
            found = value.decode("latin-1")
    return found


def graphql_error(refused: RetryAfter) -> dict[str, Any]:
    """The GraphQL error of a refusal (HTTP body, WebSocket `error` payload)."""
    return {
        "message": refused.message,
        "extensions": {"code": "RATE_LIMITED", "retryAfter": refused.seconds},
    }


def refusal(refused: RetryAfter, *, graphql: bool, accept: str | None) -> tuple[int, str, bytes]:
    """(status, media type, body) of a refusal at the GraphQL or REST door."""
    if not graphql:
        return 429, JSON, orjson.dumps({"detail": refused.message})
    media = _negotiate(accept) or JSON
    body = {"errors": [graphql_error(refused)]}
    return (429 if media == GRAPHQL_RESPONSE else 200), media, orjson.dumps(body)


class RateLimitMiddleware:
    """Counts each HTTP request to `/graphql` and `/api/v1/...` against its tenant's limit."""

    def __init__(self, app: ASGIApp, limiter: Callable[[], RateLimiter | None]) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        graphql = path == GRAPHQL_PATH
        limiter = self.limiter() if graphql or path.startswith(REST_PREFIX) else None
        tenant = rate_limit_tenant(scope) if limiter else None
        refused = await limiter.check(tenant, "http") if limiter and tenant else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, media, body = refusal(refused, graphql=graphql, accept=_header(scope, b"accept"))
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


async def check_rate(container: Any, tenant: str, kind: Kind) -> RetryAfter | None:
    """The WebSocket door's call: count one connect or operation of `tenant`."""
    limiter: RateLimiter | None = container.rate_limiter
    return await limiter.check(tenant, kind) if limiter is not None else None
