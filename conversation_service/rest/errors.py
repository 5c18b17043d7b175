"""Domain errors -> HTTP, in the shapes legacy FastAPI callers handle.

NOT_FOUND -> 404 `{"detail": "..."}`; CONFLICT -> 409 `{"detail": "..."}`; BAD_USER_INPUT and
UNAUTHENTICATED -> 422 `{"detail": [{"loc", "msg", "type"}]}` exactly like FastAPI's own
validation errors, so a caller handles one 422 shape whichever layer found the problem.
A database that is down or timed out (see adapters/db_errors.py) -> 503 with `Retry-After`.
Anything else is a masked 500 (logged), which tests and fuzzing make sure never happens.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from conversation_service.adapters.db_errors import DATABASE_ERRORS, Unavailable, as_unavailable
from conversation_service.domain.errors import DomainError, Unauthenticated, ValidationFailed
from conversation_service.rest.dependencies import TENANT_HEADER
from conversation_service.rest.responses import json_response

log = logging.getLogger("conversation_service.rest")


def field_loc(request: Request, field: str | None) -> list[str | int]:
    """`initial_messages.0.content` -> `["body", "initial_messages", 0, "content"]`.

    Path ids are checked before the domain runs (see dependencies.py), so a domain field is a
    query parameter on GET and a body field otherwise.
    """
    source = "query" if request.method == "GET" else "body"
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in (field or "").split(".") if p]
    return [source, *parts]


def validation_body(loc: list[str | int], message: str, value: Any = None) -> dict[str, Any]:
    return {"detail": [{"type": "value_error", "loc": loc, "msg": message, "input": value}]}


#: Domain error code -> HTTP status, for the errors answered with `{"detail": "..."}`.
STATUS_BY_CODE = {"NOT_FOUND": 404, "CONFLICT": 409, "FORBIDDEN": 403, "RATE_LIMITED": 429}


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, ValidationFailed):
        return json_response(validation_body(field_loc(request, exc.field), exc.message), 422)
    if isinstance(exc, Unauthenticated):
        value = request.headers.get(TENANT_HEADER)
        return json_response(validation_body(["header", TENANT_HEADER], exc.message, value), 422)
    if isinstance(exc, Unavailable):
        return _unavailable(exc)
    status = STATUS_BY_CODE.get(exc.code)
    if status is None:
        return await _unexpected(request, exc)
    return json_response({"detail": exc.message}, status)


async def _unexpected(request: Request, exc: Exception) -> Response:
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        log.warning(
            "unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return _unavailable(unavailable)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"detail": "Internal server error"}, 500)


def _unavailable(exc: Unavailable) -> Response:
    return json_response({"detail": exc.message}, 503, {"Retry-After": str(exc.retry_after)})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    # Database failures by type, so they are answered here (503) instead of reaching the
    # catch-all `Exception` handler, which Starlette re-raises into a traceback per request.
    for exc_type in DATABASE_ERRORS:
        app.add_exception_handler(exc_type, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
