"""The FastAPI sub-application mounted at `/api/v1` inside the Starlette app.

FastAPI because legacy callers were written against its validation semantics and 422 shape;
mounted (not a second server) so REST, GraphQL and subscriptions share one process, one
container and one domain layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from conversation_service import __version__
from conversation_service.rest.docs import swagger_page
from conversation_service.rest.errors import install_error_handlers
from conversation_service.rest.models import JSON_OBJECT_SCHEMA, JSON_VALUE_SCHEMA
from conversation_service.rest.responses import json_response
from conversation_service.rest.routes import conversations, messages, state, subjects

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container

PREFIX = "/api/v1"


def create_rest_app(get_container: Callable[[], Container]) -> FastAPI:
    """`get_container` returns the parent app's container once its lifespan has started."""
    app = FastAPI(
        title="Conversation Service REST shim",
        version=__version__,
        description="The `/api/v1` routes of the original FastAPI design, for legacy callers. "
        "New callers should use GraphQL at `/graphql`. Every route needs `X-Tenant-ID`.",
        openapi_url="/openapi.json",
        docs_url=None,  # served below with the vendored Swagger UI
        redoc_url=None,
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
        # Older FastAPI read a body without Content-Type as JSON and legacy callers rely on it;
        # the required X-Tenant-ID header already forces a CORS preflight, so no CSRF opening.
        strict_content_type=False,
    )
    app.state.get_container = get_container
    install_error_handlers(app)
    app.add_exception_handler(HTTPException, _http_error)
    routers = (conversations.router, messages.router, state.router, subjects.router)
    for router in routers:
        app.include_router(router)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return swagger_page(request.scope.get("root_path", "") + "/openapi.json", app.title)

    app.state.route_methods = [
        (route.path_regex, set(route.methods or ()))
        for route in [*app.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, APIRoute | Route)
    ]
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the recursive JSON schemas the request models refer to."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            servers=app.servers,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["JsonValue"] = JSON_VALUE_SCHEMA
        schemas["JsonObject"] = JSON_OBJECT_SCHEMA
        app.openapi_schema = doc
    return app.openapi_schema


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors as FastAPI answers them, except that a 405's `Allow` lists
    the methods of every route of the path: Starlette names only the first route that matched
    the path (`POST` for `/conversations`, whose `GET` is another route)."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return json_response({"detail": exc.detail}, exc.status_code, headers)


def _allowed_methods(request: Request) -> list[str]:
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    methods: set[str] = set()
    for pattern, route_methods in request.app.state.route_methods:
        if pattern.match(path):
            methods |= route_methods
    return sorted(methods)
