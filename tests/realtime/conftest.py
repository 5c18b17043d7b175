"""Real uvicorn servers, real Redis, real WebSocket clients speaking both protocols."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.web.app import create_app
from conversation_service.web.server import uvicorn_config

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    container: Container
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]
    app: Any

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 15)


async def start_server(settings: Settings) -> LiveServer:
    settings = settings.with_(fast_path_verify=True)  # every fast-path answer checked
    container = await build_container(settings)
    await upgrade(container.db.engine)
    app = create_app(container=container)
    port = free_port()
    config = uvicorn_config(app, settings.with_(port=port, log_level="WARNING"))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    return LiveServer(container, port, server, task, app)


@pytest.fixture
def pg_url(database_urls: dict[str, Any]) -> str:
    url = database_urls["postgresql"]
    if isinstance(url, BaseException):
        from tests.conftest import _unavailable

        _unavailable("PostgreSQL", url)
    return str(url)


@pytest.fixture
async def live(pg_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    """One server on PostgreSQL with Redis fan-out."""
    srv = await start_server(
        Settings(auth_mode="none", database_url=pg_url, broadcast_url=redis_url)
    )
    try:
        yield srv
    finally:
        await srv.stop()
        await srv.container.close()


@dataclass
class ServeProcess:
    """A real `conversation-service serve` process (its own event loop, uvloop, httptools): the
    timing of a client and a server in one process hides races that a real socket shows."""

    proc: subprocess.Popen[bytes]
    port: int
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def metrics(self) -> dict[str, int]:
        """The service's own gauges (`conversation_service_*`, Prometheus text), by short name."""
        text = (await self.http.get(f"http://127.0.0.1:{self.port}/metrics")).text
        out: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("conversation_service_") and "{" not in name:
                out[name.removeprefix("conversation_service_")] = int(float(value))
        return out

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


async def wait_ready(http: httpx.AsyncClient, port: int, wait_s: float = 30) -> None:
    """Until the `serve` process on `port` answers `/readyz` with 200 (database and broker up)."""
    async with asyncio.timeout(wait_s):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def serve_process(pg_url: str, redis_url: str, **env: str) -> AsyncIterator[ServeProcess]:
    """Migrate, start `serve` on a free port with `env` added, wait until it is ready."""
    setup = await build_container(Settings(auth_mode="none", database_url=pg_url))
    await upgrade(setup.db.engine)
    await setup.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conversation_service", "serve", "--port", str(port)],
        env={
            **os.environ,
            "DATABASE_URL": pg_url,
            "AUTH_MODE": "none",
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            await wait_ready(http, port)
            yield ServeProcess(proc, port, http)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class WSClient:
    """A GraphQL WebSocket client for either protocol, collecting frames per operation id."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.frames: dict[str | None, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        url: str,
        protocol: str = TRANSPORT_WS,
        tenant: str | None = None,
        init_payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ack: bool = True,
    ) -> WSClient:
        ws = await connect(
            url,
            subprotocols=[Subprotocol(protocol)],
            additional_headers=headers,
            max_queue=None,
            compression=None,
        )
        client = cls(ws, protocol)
        payload = (
            init_payload if init_payload is not None else ({"tenantId": tenant} if tenant else {})
        )
        await client.send({"type": "connection_init", "payload": payload})
        if ack:
            frame = await client.next_frame(None)
            assert frame["type"] == "connection_ack", frame
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if frame.get("type") in ("ka", "ping"):
                    if frame["type"] == "ping":
                        await self.send({"type": "pong"})
                    continue
                await self.frames[frame.get("id")].put(frame)
        except Exception:
            pass
        finally:
            self.closed.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )
        return op_id

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def next_frame(self, op_id: str | None, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.frames[op_id].get(), timeout)

    async def next_data(self, op_id: str, timeout: float = 10.0) -> dict[str, Any]:
        frame = await self.next_frame(op_id, timeout)
        assert frame["type"] in ("next", "data"), frame
        payload: dict[str, Any] = frame["payload"]
        return payload

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@pytest.fixture(params=[TRANSPORT_WS, LEGACY_WS])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)
