"""The Starlette application: GraphQL (HTTP + WebSocket), REST shim, probes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route

from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.web.graphql_http import GraphQLHTTP
from conversation_service.web.health import healthz, readyz

log = logging.getLogger(__name__)


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
    holder: dict[str, Container] = {}
    if container is not None:
        holder["c"] = container

    def get_container() -> Container:
        return holder["c"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = container is None
        c = container or await build_container(settings)
        holder["c"] = c
        app.state.container = c
        worker = None
        crm_runner = None
        if c.settings.crm_sync_runner and c.crm is not None and c.crm.directory.configured:
            from conversation_service.crm_runner import start_crm_sync_runner

            crm_runner = await start_crm_sync_runner(c)
        if with_worker:
            from conversation_service.worker.runner import start_worker

            worker = await start_worker(c)
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if crm_runner is not None:
                await crm_runner.stop()
            if own:
                await c.close()

    graphql_http = GraphQLHTTP(get_container)
    routes = [
        Route("/graphql", graphql_http.handle, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if container is not None:
        app.state.container = container
    return app
