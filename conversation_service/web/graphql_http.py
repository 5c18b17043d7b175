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

from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.documents import is_parse_failure, prepare_async
from conversation_service.schema.errors import shape_error
from conversation_service.schema.fast_path import FastPath
from conversation_service.schema.limits import limits_of
from conversation_service.web.ide import graphiql_html
from conversation_service.web.request_metrics import record_operation

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
TENANT_HEADER = "x-tenant-id"


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
            candidate = JSON if media == JSON else GRAPHQL_RESPONSE
        else:
            continue
        key = (q, -order, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def _error_body(message: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
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

    def __init__(self, container_getter: Any) -> None:
        self._container = container_getter
        self.fast_path = FastPath()
        self._ide = graphiql_html()

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
        params, problem = await self._parse(request)
        if problem is not None:
            return (
                problem
                if isinstance(problem, Response)
                else _respond(_error_body(problem), 400, media)
            )
        assert params is not None
        record_operation(request.scope, params.get("operationName"))
        context = GraphQLContext(
            container=self._container(), raw_tenant_id=request.headers.get(TENANT_HEADER)
        )
        # Parse and validate a new document off the event loop (the results land in the
        # caches both paths read); a document that does not parse is answered here, as
        # Strawberry would answer it, without parsing it again.
        prepared = await prepare_async(params["query"], limits_of(context))
        if is_parse_failure(prepared):
            assert isinstance(prepared, list)
            errors = [shape_error(e).formatted for e in prepared]
            return _respond({"errors": errors}, 400 if media == GRAPHQL_RESPONSE else 200, media)
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        if OperationType.QUERY in allowed:
            data = await self.fast_path.execute(
                params["query"], params.get("variables"), params.get("operationName"), context
            )
            if data is not None:
                fast: dict[str, Any] = {"data": data}
                if context.extensions:
                    fast["extensions"] = dict(context.extensions)
                return _respond(fast, 200, media)
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
            return _respond(
                _error_body("Only queries can be sent with GET; use POST"),
                405,
                media,
                {"Allow": "POST"},
            )
        except CannotGetOperationTypeError as exc:
            return _respond(_error_body(exc.as_http_error_reason()), 400, media)
        except MissingQueryError:
            return _respond(_error_body("No GraphQL query found in the request"), 400, media)
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
        return _respond(body, status, media)

    async def _parse(self, request: Request) -> tuple[dict[str, Any] | None, Response | str | None]:
        if request.method == "GET":
            qp = request.query_params
            params: dict[str, Any] = {"query": qp.get("query")}
            if "operationName" in qp:
                params["operationName"] = qp.get("operationName") or None
            for key in ("variables", "extensions"):
                raw = qp.get(key)
                if raw:
                    try:
                        params[key] = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        return None, f"`{key}` is not valid JSON"
        else:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != JSON and content_type != GRAPHQL_RESPONSE:
                return None, _respond(
                    _error_body("POST bodies must be application/json"), 415, JSON
                )
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return None, "The request body is not valid JSON"
            if not isinstance(body, dict):
                return None, "The request body must be a JSON object"
            params = body
        query = params.get("query")
        if not isinstance(query, str) or not query.strip():
            return None, "`query` must be a non-empty string"
        if params.get("variables") is not None and not isinstance(params["variables"], dict):
            return None, "`variables` must be an object"
        if params.get("extensions") is not None and not isinstance(params["extensions"], dict):
            return None, "`extensions` must be an object"
        op = params.get("operationName")
        if op is not None and not isinstance(op, str):
            return None, "`operationName` must be a string"
        return params, None


__all__ = ["GraphQLError", "GraphQLHTTP"]
