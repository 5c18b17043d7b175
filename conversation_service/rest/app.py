"""The FastAPI sub-application mounted at `/api/v1` inside the Starlette app.

FastAPI because legacy callers were written against its validation semantics and 422 shape;
mounted (not a second server) so REST, GraphQL and subscriptions share one process, one
container and one domain layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse

from conversation_service import __version__
from conversation_service.rest.docs import swagger_page
from conversation_service.rest.errors import install_error_handlers
from conversation_service.rest.routes import conversations, messages, state

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
    for router in (conversations.router, messages.router, state.router):
        app.include_router(router)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return swagger_page(request.scope.get("root_path", "") + "/openapi.json", app.title)

    return app
