"""Accepts WebSockets on /graphql: picks the protocol, checks the `Origin`, keeps the shared
groups and the per-tenant counts of sockets and subscriptions.

Origin rule (WS_ALLOWED_ORIGINS, comma-separated): an upgrade without an `Origin` header
(servers, scripts, mobile apps: not a browser) is accepted; so is one whose `Origin` is this
service's own (`Host`, e.g. GraphiQL served here) or is listed (`*` lists every origin); any
other `Origin` is refused with 403 before the handshake. An empty list therefore lets no
foreign web page subscribe with a visitor's browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from conversation_service.web.ws.connection import Connection
from conversation_service.web.ws.graphql_transport_ws import GraphQLTransportWS
from conversation_service.web.ws.graphql_ws import GraphQLWS
from conversation_service.web.ws.groups import Groups
from conversation_service.web.ws.protocol import Protocol
from conversation_service.web.ws.tenant_limits import TenantLimits

PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (GraphQLTransportWS, GraphQLWS)}


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if "*" in allowed or origin in {a.rstrip("/").lower() for a in allowed}:
        return True
    host = websocket.headers.get("host", "").lower()
    return bool(host) and urlsplit(origin).netloc == host


class SubscriptionServer:
    """The WebSocket endpoint of /graphql."""

    def __init__(self, container_getter: Callable[[], Any]) -> None:
        self.container = container_getter
        self.groups = Groups(container_getter)
        self.connections: set[Connection] = set()
        self.closing = False
        self._limits: TenantLimits | None = None

    def settings(self) -> Any:
        return self.container().settings

    @property
    def limits(self) -> TenantLimits:
        if self._limits is None:
            settings = self.settings()
            self._limits = TenantLimits(
                settings.ws_max_connections_per_tenant, settings.ws_max_subscriptions_per_tenant
            )
        return self._limits

    async def handle(self, websocket: WebSocket) -> None:
        if not origin_allowed(websocket, tuple(self.settings().ws_allowed_origins)):
            await websocket.close()  # before accepting: the upgrade is answered 403
            return
        requested = websocket.scope.get("subprotocols") or []
        name = next((p for p in requested if p in PROTOCOLS), None)
        if name is None or self.closing:
            await websocket.close(code=4406 if name is None else 1001)
            return
        await websocket.accept(subprotocol=name)
        conn = Connection(self, websocket, PROTOCOLS[name]())
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def shutdown(self) -> None:
        """Complete every subscription and close every socket (graceful shutdown)."""
        self.closing = True
        await asyncio.gather(
            *(c.shutdown() for c in list(self.connections)), return_exceptions=True
        )

    def stats(self) -> dict[str, int]:
        return {
            "ws_connections": len(self.connections),
            "ws_operations": sum(len(c.ops) for c in self.connections),
            "subscription_groups": len(self.groups),
            "solo_subscriptions": sum(len(c.solo_tasks) for c in self.connections),
        }
