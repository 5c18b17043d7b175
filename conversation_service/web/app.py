"""The Starlette application: GraphQL (HTTP + WebSocket), REST shim, probes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from conversation_service.assets import ASSETS_PATH
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.crm_runner import start_configured_crm_sync_runner
from conversation_service.observability.tracing import Tracing
from conversation_service.rest import create_rest_app
from conversation_service.web.graphql_http import GraphQLHTTP
from conversation_service.web.health import healthz, metrics, readyz
from conversation_service.web.ide import assets_app
from conversation_service.web.rate_limit import RateLimitMiddleware
from conversation_service.web.request_id import RequestId
from conversation_service.web.request_metrics import RequestMetrics
from conversation_service.web.ws.server import SubscriptionServer

log = logging.getLogger(__name__)

REST_PREFIX = "/api/v1"


async def _not_found(request: Request, exc: Exception) -> Response:
    """Paths the router cannot match at all (e.g. an id with a newline never reaches the
    mount): REST callers still get FastAPI's JSON 404."""
    detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
    if request.url.path.startswith(REST_PREFIX + "/"):
        return JSONResponse({"detail": detail}, status_code=404)
    return PlainTextResponse(detail, status_code=404)


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    with_worker: bool = False,
) -> Starlette:
    """Build the app; pass `container` to share one already built (tests).

    `with_worker` also runs the action worker in this process (see worker/).
    """
    settings = settings or (container.settings if container else Settings.from_env())
    tracing = (
        container.tracing
        if container is not None
        else Tracing.start(settings.otel_enabled, settings.otel_service_name)
    )
    holder: dict[str, Container] = {}
    if container is not None:
        holder["c"] = container

    def get_container() -> Container:
        return holder["c"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = container is None
        c = container or await build_container(settings, tracing)
        holder["c"] = c
        app.state.container = c
        worker = None
        crm_runner = None
        try:
            crm_runner = await start_configured_crm_sync_runner(c)
            if with_worker:
                from conversation_service.worker.runner import start_worker

                worker = await start_worker(c)
            yield
        finally:
            await subscriptions.shutdown()
            if worker is not None:
                await worker.stop()
            if crm_runner is not None:
                await crm_runner.stop()
            if own:
                await c.close()

    graphql_http = GraphQLHTTP(get_container)
    subscriptions = SubscriptionServer(get_container)
    routes = [
        Route("/graphql", graphql_http.handle, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        WebSocketRoute("/graphql", subscriptions.handle),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Mount(ASSETS_PATH, app=assets_app()),
        Mount(REST_PREFIX, app=create_rest_app(get_container)),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found},
        middleware=[
            *tracing.middleware(),
            Middleware(RequestId),
            Middleware(RequestMetrics),
            # after the request id and metrics, so refusals carry one and are counted
            Middleware(
                RateLimitMiddleware,
                limiter=lambda: holder["c"].rate_limiter if "c" in holder else None,
            ),
        ],
    )
    app.state.subscriptions = subscriptions
    app.state.fast_path = graphql_http.fast_path
    if container is not None:
        app.state.container = container
    return app
