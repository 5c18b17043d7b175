"""The Starlette application: GraphQL (HTTP + WebSocket), REST shim, probes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from conversation_service.assets import ASSETS_PATH
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.crm_runner import start_configured_crm_sync_runner
from conversation_service.observability.tracing import Tracing
from conversation_service.rest import create_rest_app
from conversation_service.web.authentication import AuthenticationMiddleware
from conversation_service.web.body_limit import BodyLimit
from conversation_service.web.graphql_http import GraphQLHTTP
from conversation_service.web.health import healthz, metrics, readyz
from conversation_service.web.ide import assets_app
from conversation_service.web.persisted_queries import PersistedQueries
from conversation_service.web.rate_limit import RateLimitMiddleware
from conversation_service.web.request_id import RequestId
from conversation_service.web.request_metrics import RequestMetrics
from conversation_service.web.ws.server import SubscriptionServer
from conversation_service.worker.runner import start_worker

log = logging.getLogger(__name__)

REST_PREFIX = "/api/v1"
#: Request headers browser callers may send (credentials, tenancy, tracing).
CORS_HEADERS = ["Authorization", "X-API-Key", "X-Tenant-ID", "Content-Type", "X-Request-ID"]


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
        c.auth.start()
        try:
            crm_runner = await start_configured_crm_sync_runner(c)
            if with_worker:
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

    persisted = PersistedQueries(
        lambda: get_container().redis,
        max_entries=settings.apq_cache_size,
        ttl_s=settings.apq_ttl_s,
        max_query_bytes=settings.apq_max_query_bytes,
    )
    graphql_http = GraphQLHTTP(
        get_container,
        persisted=persisted,
        max_batch_size=settings.max_batch_size,
        auth_header=settings.auth_required,
    )
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
            *_cors(settings),
            Middleware(RequestId),
            Middleware(RequestMetrics),
            # after the request id and metrics, so refusals carry one and are counted; the
            # rate limit behind it counts the authenticated tenant
            Middleware(
                AuthenticationMiddleware,
                auth=lambda: holder["c"].auth if "c" in holder else None,
                required=settings.auth_required,
            ),
            Middleware(
                RateLimitMiddleware,
                limiter=lambda: holder["c"].rate_limiter if "c" in holder else None,
            ),
            _body_limit(settings),
        ],
    )
    app.state.subscriptions = subscriptions
    app.state.fast_path = graphql_http.fast_path
    if container is not None:
        app.state.container = container
    return app


def _cors(settings: Settings) -> list[Middleware]:
    """CORS outside the other middleware (a 413 or a request-id answer still carries its headers,
    so a browser can read it); none without `CORS_ORIGINS`."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
            allow_headers=CORS_HEADERS,
            expose_headers=["Retry-After", "Idempotent-Replayed", "X-Request-ID"],
            max_age=600,
        )
    ]


def _body_limit(settings: Settings) -> Middleware:
    """In front of every route (GraphQL, REST), after the request id is assigned."""
    return Middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.http_body_timeout_s
    )
