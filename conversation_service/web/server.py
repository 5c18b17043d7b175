"""uvicorn, configured for many idle sockets and a graceful stop of subscriptions."""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from conversation_service.config import Settings
from conversation_service.runtime import CollectAfterLargeBodies, tune_gc
from conversation_service.web.ws.transport import bounded_protocol


def uvicorn_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Logging is configured once by the CLI (structlog formats uvicorn's loggers too).
        log_config=None,
        # One line per request costs ~10% of a small request's CPU; off unless asked for.
        access_log=settings.access_log,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        # ~25 KiB per idle socket without per-message deflate (125 KiB with it).
        ws=bounded_protocol(settings.ws_max_buffer_bytes),  # uvicorn's "websockets-sansio"
        ws_per_message_deflate=False,
        # uvloop and httptools when installed (they are dependencies): ~30% less CPU per request.
        loop="auto",
        http="auto",
        # Transport-level pings: a peer that stops answering is dropped.
        ws_ping_interval=settings.ws_keepalive_s,
        ws_ping_timeout=settings.ws_keepalive_s,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )


class Server(uvicorn.Server):
    """On SIGTERM/SIGINT, first complete every subscription (clients see `complete` and a 1001
    close, not a dropped socket), then let uvicorn shut down as usual."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app
        self._stopping: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping is not None:
            super().handle_exit(sig, frame)
            return
        loop = asyncio.get_event_loop()

        async def stop() -> None:
            try:
                async with asyncio.timeout(5.0):
                    await self._app.state.subscriptions.shutdown()
            finally:
                super(Server, self).handle_exit(sig, frame)

        self._stopping = loop.create_task(stop())


def serve(app: Starlette, settings: Settings) -> None:
    tune_gc()
    config = uvicorn_config(app, settings)
    config.app = CollectAfterLargeBodies(app)  # bounds what a burst of large bodies holds
    Server(config, app).run()
