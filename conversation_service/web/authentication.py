"""Authentication at the HTTP doors: a pure ASGI middleware in front of `/graphql` and `/api/v1`.

Under `AUTH_MODE=required` it turns the request's credential and `X-Tenant-ID` into the
`Principal` it acts as (adapters/auth) before anything reads the body, and puts it on the
request (`request.state.principal`); the rate limit behind it counts the principal's tenant. A
request it cannot admit is answered here, in its door's shape:

- GraphQL: `errors[0].extensions.code` UNAUTHENTICATED (HTTP 401 under
  `application/graphql-response+json`), FORBIDDEN (403), BAD_USER_INPUT (400); 200 under
  `application/json`, as every request error of the legacy media type;
- REST: 401 `{"detail": ...}` with `WWW-Authenticate: Bearer`, 403, 400.

GraphiQL's page and the REST documentation stay public (they hold no tenant data). Under
`AUTH_MODE=none` only `X-Tenant-ID` sent twice is refused here; the doors take the tenant
from the header as before. Roles are checked by the doors (per GraphQL operation and field,
per REST method).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from conversation_service.adapters.auth import Authenticator
from conversation_service.adapters.db_errors import Unavailable
from conversation_service.domain.errors import DomainError
from conversation_service.domain.identity import named_tenant
from conversation_service.web.graphql_http import GRAPHQL_RESPONSE, JSON, _negotiate

GRAPHQL_PATH = "/graphql"
REST_PREFIX = "/api/v1/"
#: REST paths anyone may read: the API's own description
PUBLIC_REST = ("/api/v1/docs", "/api/v1/openapi.json", "/api/v1/redoc")
GRAPHQL_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "BAD_USER_INPUT": 400,
    "UNAVAILABLE": 503,
}
REST_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BAD_USER_INPUT": 400, "UNAVAILABLE": 503}


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k == name]


def _is_ide(scope: Scope) -> bool:
    """A browser asking for GraphiQL's page: the same test as GraphQLHTTP's (parsed query
    string), so nothing that door would execute passes here unauthenticated."""
    accept = ",".join(_headers(scope, b"accept"))
    params = QueryParams(scope.get("query_string", b"").decode("latin-1"))
    return scope["method"] == "GET" and "text/html" in accept and "query" not in params


def refusal(exc: DomainError, *, graphql: bool, accept: str | None) -> tuple[int, str, bytes]:
    """(status, media type, body) of a request refused before its door ran."""
    if not graphql:
        return REST_STATUS.get(exc.code, 400), JSON, orjson.dumps({"detail": exc.message})
    media = _negotiate(accept) or JSON
    error: dict[str, Any] = {"message": exc.message, "extensions": {"code": exc.code}}
    if exc.field:
        error["extensions"]["field"] = exc.field
    status = GRAPHQL_STATUS.get(exc.code, 400) if media == GRAPHQL_RESPONSE else 200
    return status, media, orjson.dumps({"errors": [error]})


class AuthenticationMiddleware:
    def __init__(
        self, app: ASGIApp, auth: Callable[[], Authenticator | None], *, required: bool
    ) -> None:
        self.app = app
        self.auth = auth
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        graphql = path == GRAPHQL_PATH
        if not graphql and not (path.startswith(REST_PREFIX) and not path.startswith(PUBLIC_REST)):
            await self.app(scope, receive, send)
            return
        auth = self.auth()
        tenant = _headers(scope, b"x-tenant-id")
        try:
            if auth is None and self.required:
                raise Unavailable("the service is starting; retry later")
            if auth is None or not auth.required:
                if len(tenant) > 1:
                    named_tenant(tenant)  # raises: sent twice
            elif not (graphql and _is_ide(scope)):
                principal = await auth.principal(
                    authorization=_headers(scope, b"authorization"),
                    api_key=_headers(scope, b"x-api-key"),
                    tenant=tenant,
                )
                scope.setdefault("state", {})["principal"] = principal
        except DomainError as exc:
            await self._refuse(scope, send, exc, graphql)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, exc: DomainError, graphql: bool) -> None:
        accept = ",".join(_headers(scope, b"accept")) or None
        status, media, body = refusal(exc, graphql=graphql, accept=accept)
        headers = [
            (b"content-type", f"{media}; charset=utf-8".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if exc.code == "UNAUTHENTICATED":
            headers.append((b"www-authenticate", b'Bearer realm="conversation-service"'))
        if isinstance(exc, Unavailable):
            headers.append((b"retry-after", str(exc.retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
