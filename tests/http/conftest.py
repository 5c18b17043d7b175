"""Real uvicorn servers for transport limits (raw sockets, real HTTP clients)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from conversation_service.config import Settings
from tests.realtime.conftest import LiveServer, start_server

Serve = Callable[..., AbstractAsyncContextManager[LiveServer]]


@pytest.fixture
def serve(
    database_urls: dict[str, Any],
) -> Serve:
    """`async with serve(max_body_bytes=...) as srv:` a server on the run's SQLite database."""

    @asynccontextmanager
    async def run(**changes: Any) -> AsyncIterator[LiveServer]:
        settings = Settings(auth_mode="none", database_url=database_urls["sqlite"]).with_(**changes)
        srv = await start_server(settings)
        try:
            yield srv
        finally:
            await srv.stop()
            await srv.container.close()

    return run
