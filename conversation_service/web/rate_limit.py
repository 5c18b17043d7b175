"""The rate limit at the HTTP door (`http_door.HttpDoor`), in front of `/graphql` and `/api/v1`.

It counts a request before anything reads its body, so a refused request costs one limiter
check and no parsing. The tenant is the one `rate_limit_tenant` names (today the validated
`X-Tenant-ID`); requests without a valid tenant pass on and their door refuses them as before.
The WebSocket door calls `RateLimiter.check` itself (at connect and at each subscribe).

Refusals, per the contract: GraphQL `extensions.code = "RATE_LIMITED"` with
`extensions.retryAfter`, HTTP 200 under `application/json` and 429 under
`application/graphql-response+json`; REST 429 `{"detail": ...}`; `Retry-After` on every one.
"""

from __future__ import annotations

from typing import Any

import orjson

from conversation_service.adapters.rate_limits import Kind, RateLimiter, RetryAfter
from conversation_service.domain.errors import Unauthenticated
from conversation_service.domain.validation import tenant_id as validate_tenant
from conversation_service.web.graphql_http import GRAPHQL_RESPONSE, JSON, _negotiate

GRAPHQL_PATH = "/graphql"
REST_PREFIX = "/api/v1/"


def rate_limit_tenant(tenant_header: str | None) -> str | None:
    """The key a request is counted under: the validated tenant, or None (not counted here).

    The one place that decides it for every door (the identity work keys it by the
    credential's tenant instead)."""
    try:
        return validate_tenant(tenant_header)
    except Unauthenticated:
        return None


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


async def check_rate(container: Any, tenant: str, kind: Kind) -> RetryAfter | None:
    """The WebSocket door's call: count one connect or operation of `tenant`."""
    limiter: RateLimiter | None = container.rate_limiter
    return await limiter.check(tenant, kind) if limiter is not None else None
