"""`graphql-transport-ws` (the current protocol of graphql-ws / Apollo / urql).

Message shapes are Strawberry's own TypedDicts for this protocol; the close codes are the
protocol's (4400 bad message, 4401 not acknowledged, 4403 forbidden, 4409 duplicate id,
4429 too many initialisation requests) plus 4429 "Too many connections" for a tenant over
WS_MAX_CONNECTIONS_PER_TENANT.
"""

from __future__ import annotations

from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    ErrorMessage,
    PingMessage,
    PongMessage,
    SubscribeMessage,
)

from conversation_service.web.ws.operation import ErrorList
from conversation_service.web.ws.protocol import ConnectionPort, Protocol, Refusal

NAME = "graphql-transport-ws"

__all__ = [
    "NAME",
    "CompleteMessage",
    "ConnectionInitMessage",
    "ErrorMessage",
    "GraphQLTransportWS",
    "PingMessage",
    "PongMessage",
    "SubscribeMessage",
]


class GraphQLTransportWS(Protocol):
    name = NAME
    result_type = "next"

    def errors(self, op_id: str, errors: ErrorList) -> list[dict[str, Any]]:
        return [{"id": op_id, "type": "error", "payload": errors}]

    def keepalive(self) -> dict[str, Any]:
        return {"type": "ping"}

    async def invalid(self, conn: ConnectionPort) -> bool:
        await conn.close(4400, "Invalid message")
        return True

    async def handle(self, conn: ConnectionPort, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(conn, cast(ConnectionInitMessage, message))
        elif kind == "ping":
            ping = cast(PingMessage, message)
            pong: dict[str, Any] = {"type": "pong"}
            if "payload" in ping:
                pong["payload"] = ping["payload"]
            conn.send(pong, pong=True)
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(conn, cast(SubscribeMessage, message))
        elif kind == "complete":
            op_id = message.get("id")
            if isinstance(op_id, str):
                conn.stop(op_id)
        else:
            await conn.close(4400, f"Unknown message type {kind!r}")

    async def _init(self, conn: ConnectionPort, message: ConnectionInitMessage) -> None:
        if conn.init_received:
            await conn.close(4429, "Too many initialisation requests")
            return
        conn.init_received = True
        try:
            await conn.admit(message.get("payload"))
            await conn.admit_rate()
        except Refusal as refused:
            await conn.close(refused.code, refused.reason)
            return
        conn.acked = True
        conn.send({"type": "connection_ack"})

    async def _subscribe(self, conn: ConnectionPort, message: SubscribeMessage) -> None:
        if not conn.acked:
            await conn.close(4401, "Unauthorized")
            return
        op_id = message.get("id")
        if not isinstance(op_id, str) or not op_id:
            await conn.close(4400, "Invalid message: subscribe needs an id")
            return
        if conn.has_operation(op_id):
            await conn.close(4409, f"Subscriber for {op_id} already exists")
            return
        await conn.start(op_id, message.get("payload"))
