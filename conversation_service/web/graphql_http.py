"""GraphQL over HTTP, per the GraphQL-over-HTTP specification.

Strawberry executes; this module owns the transport: GET for queries, POST with JSON bodies,
`application/graphql-response+json` (4xx when the request fails before execution) next to
legacy `application/json` (always 200 for a well-formed request), 405/406/415 where the spec
says so, GraphiQL for browsers, orjson for encoding.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from conversation_service.adapters.db_errors import RETRY_AFTER_S, as_unavailable
from conversation_service.domain.errors import Forbidden
from conversation_service.domain.identity import Principal
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.access import check_operation
from conversation_service.schema.documents import is_parse_failure, prepare_async
from conversation_service.schema.error_log import log_errors
from conversation_service.schema.errors import shape_error
from conversation_service.schema.fast_path import FastPath
from conversation_service.schema.limits import limits_of
from conversation_service.web.ide import graphiql_html
from conversation_service.web.persisted_queries import PersistedQueries, PersistedQueryError
from conversation_service.web.request_metrics import record_operation

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TENANT_HEADER = "x-tenant-id"
#: Answers are per tenant and per credential: no shared cache may keep them. A deployment that
#: puts a CDN in front keys it on these headers (`Vary`) or caches nothing, which is the default.
GET_CACHE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Vary": "Accept, Authorization, X-API-Key, X-Tenant-ID",
}


def _negotiate(accept: str | None) -> str | None:
    """Pick the response media type; None when the client accepts neither."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for order, part in enumerate(accept.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        q = 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            # Wildcards get the legacy type, as GraphQL over HTTP recommends (SHOULD): clients
            # that send `*/*` (fetch, curl) expect 200s.
            candidate = JSON
        else:
            continue
        key = (q, -order, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def _error_body(message: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    """A request error: `errors` only, no `data`."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _respond(
    body: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{media_type}; charset=utf-8",
        headers=headers,
    )


def _wants_ide(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "query" not in request.query_params


class GraphQLHTTP:
    """Starlette endpoint for `/graphql` over HTTP; the WebSocket side is the subscriptions view."""

    def __init__(
        self,
        container_getter: Any,
        *,
        persisted: PersistedQueries | None = None,
        max_batch_size: int = 10,
        auth_header: bool = False,  # also: credentials are required
    ) -> None:
        self._container = container_getter
        self.fast_path = FastPath()
        # AUTH_MODE=required: GraphiQL's header editor starts with `Authorization: Bearer `
        self._ide = graphiql_html(auth_header)
        self._auth_required = auth_header
        self._persisted = persisted or PersistedQueries(
            lambda: None, max_entries=1000, ttl_s=86_400, max_query_bytes=65_536
        )
        self._max_batch_size = max_batch_size

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and _wants_ide(request):
            return HTMLResponse(self._ide)
        if request.method not in ("GET", "POST"):
            return _respond(
                _error_body("GraphQL is served over GET and POST"),
                405,
                JSON,
                {"Allow": "GET, POST"},
            )
        media = _negotiate(request.headers.get("accept"))
        if media is None:
            return _respond(
                _error_body(f"Acceptable media types are {GRAPHQL_RESPONSE} and {JSON}"), 406, JSON
            )
        payload, problem = await self._read(request)
        if problem is not None:
            return (
                problem
                if isinstance(problem, Response)
                else _respond(_error_body(problem), 400, media)
            )
        if isinstance(payload, list):
            return await self._batch(request, payload, media)
        body, status, headers = await self._operation(request, payload, media)
        if request.method == "GET":
            headers = {**(headers or {}), **GET_CACHE_HEADERS}
        return _respond(body, status, media, headers)

    async def _batch(self, request: Request, operations: list[Any], media: str) -> Response:
        """Apollo's `BatchHttpLink`: a JSON array of operations, answered by an array in the same
        order. Each operation is checked, limited and executed as if sent alone (one after the
        other, so a batch costs what its operations cost in sequence); the body limit covers
        the whole array."""
        if not operations:
            return _respond(_error_body("A batch must contain at least one operation"), 400, media)
        if len(operations) > self._max_batch_size:
            error = _error_body(
                f"A batch may contain at most {self._max_batch_size} operations, "
                f"got {len(operations)}"
            )
            error["errors"][0]["extensions"]["limit"] = "MAX_BATCH_SIZE"
            return _respond(error, 400, media)
        bodies: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        for operation in operations:
            body, _status, extra = await self._operation(request, operation, media)
            bodies.append(body)
            headers.update(extra or {})
        headers.pop("Allow", None)
        return _respond(bodies, 200, media, headers)

    async def _operation(
        self, request: Request, raw: Any, media: str
    ) -> tuple[dict[str, Any], int, dict[str, str] | None]:
        """One operation: its body, HTTP status (when sent alone) and extra headers."""
        params, problem = _check_params(raw)
        if problem is not None:
            return _error_body(problem), 400, None
        assert params is not None
        record_operation(request.scope, params.get("operationName"))
        try:
            params["query"] = await self._persisted.resolve(
                params.get("query"), params.get("extensions")
            )
        except PersistedQueryError as exc:
            # Under the legacy media type a request error is 200; Apollo's link reads either.
            return (
                _error_body(exc.message, exc.code),
                400 if media == GRAPHQL_RESPONSE else 200,
                None,
            )
        if params["query"] is None:
            return _error_body("`query` must be a non-empty string"), 400, None
        # AUTH_MODE=required: the principal the authentication middleware admitted (its tenant
        # is the request's); none: whoever names the tenant in X-Tenant-ID.
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None and self._auth_required:
            # Never anonymous when credentials are required (the middleware admits first).
            status = 401 if media == GRAPHQL_RESPONSE else 200
            return _error_body("a credential is required", "UNAUTHENTICATED"), status, None
        context = GraphQLContext(
            container=self._container(),
            raw_tenant_id=(
                principal.tenant_id if principal else request.headers.get(TENANT_HEADER)
            ),
            principal=principal,
        )
        # Parse and validate a new document off the event loop (the results land in the
        # caches both paths read); a document that does not parse is answered here, as
        # Strawberry would answer it, without parsing it again.
        prepared = await prepare_async(params["query"], limits_of(context))
        if is_parse_failure(prepared):
            assert isinstance(prepared, list)
            log_errors(prepared, None, query=params["query"], operation=params.get("operationName"))
            errors = [shape_error(e).formatted for e in prepared]
            return {"errors": errors}, 400 if media == GRAPHQL_RESPONSE else 200, None
        if not isinstance(prepared, list):
            try:
                check_operation(principal, prepared, params.get("operationName"))
            except Forbidden as exc:
                error = GraphQLError(exc.message, original_error=exc)
                status = 403 if media == GRAPHQL_RESPONSE else 200
                return {"errors": [shape_error(error).formatted]}, status, None
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        if OperationType.QUERY in allowed:
            try:
                data = await self.fast_path.execute(
                    params["query"], params.get("variables"), params.get("operationName"), context
                )
            except Exception as exc:
                unavailable = as_unavailable(exc)
                if unavailable is None:
                    raise
                error = GraphQLError(unavailable.message, original_error=unavailable)
                log_errors(
                    [error], None, query=params["query"], operation=params.get("operationName")
                )
                return (
                    {"errors": [shape_error(error).formatted], "data": None},
                    503 if media == GRAPHQL_RESPONSE else 200,
                    {"Retry-After": str(RETRY_AFTER_S)},
                )
            if data is not None:
                fast: dict[str, Any] = {"data": data}
                if context.extensions:
                    fast["extensions"] = dict(context.extensions)
                return fast, 200, None
        try:
            result = await schema.execute(
                params["query"],
                variable_values=params.get("variables"),
                context_value=context,
                operation_name=params.get("operationName"),
                allowed_operation_types=allowed,
                operation_extensions=params.get("extensions"),
            )
        except InvalidOperationTypeError:
            return (
                _error_body("Only queries can be sent with GET; use POST"),
                405,
                {"Allow": "POST"},
            )
        except CannotGetOperationTypeError as exc:
            return _error_body(exc.as_http_error_reason()), 400, None
        except MissingQueryError:
            return _error_body("No GraphQL query found in the request"), 400, None
        # Variable coercion failures come back as an execution result without data whose errors
        # have no path: they are request errors (no `data` entry), like parse/validation errors.
        request_error = isinstance(result, PreExecutionError) or (
            result.data is None
            and bool(result.errors)
            and all(e.path is None for e in result.errors or [])
        )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [shape_error(e).formatted for e in result.errors]
        if not request_error:
            body["data"] = result.data
        extensions = dict(result.extensions or {})
        extensions.update(context.extensions)
        if extensions:
            body["extensions"] = extensions
        status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
        headers = None
        if any(
            e.get("extensions", {}).get("code") == "UNAVAILABLE" for e in body.get("errors", [])
        ):
            headers = {"Retry-After": str(RETRY_AFTER_S)}
            if media == GRAPHQL_RESPONSE:
                status = 503
        return body, status, headers

    async def _read(self, request: Request) -> tuple[Any, Response | str | None]:
        """The request's operation (a dict of its parameters) or, POSTed, a batch (a list)."""
        if request.method == "GET":
            qp = request.query_params
            params: dict[str, Any] = {}
            if "query" in qp:
                params["query"] = qp.get("query")
            if "operationName" in qp:
                params["operationName"] = qp.get("operationName") or None
            for key in ("variables", "extensions"):
                raw = qp.get(key)
                if raw:
                    try:
                        params[key] = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        return None, f"`{key}` is not valid JSON"
            return params, None
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON and content_type != GRAPHQL_RESPONSE:
            return None, _respond(_error_body("POST bodies must be application/json"), 415, JSON)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None, "The request body is not valid JSON"
        if not isinstance(body, dict) and not (
            isinstance(body, list) and all(isinstance(op, dict) for op in body)
        ):
            return None, "The request body must be a JSON object (or an array of them: a batch)"
        return body, None


def _check_params(params: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(params, dict):
        return None, "Each operation must be a JSON object"
    query = params.get("query")
    persisted = isinstance(params.get("extensions"), dict) and "persistedQuery" in params.get(
        "extensions", {}
    )
    if query is None and persisted:
        pass  # the hash names the query (automatic persisted queries)
    elif not isinstance(query, str) or not query.strip():
        return None, "`query` must be a non-empty string"
    if params.get("variables") is not None and not isinstance(params["variables"], dict):
        return None, "`variables` must be an object"
    if params.get("extensions") is not None and not isinstance(params["extensions"], dict):
        return None, "`extensions` must be an object"
    op = params.get("operationName")
    if op is not None and not isinstance(op, str):
        return None, "`operationName` must be a string"
    return dict(params), None


__all__ = ["GraphQLError", "GraphQLHTTP"]
