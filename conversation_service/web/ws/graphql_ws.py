"""`graphql-ws`: the legacy subscriptions-transport-ws protocol (Apollo's old client).

Message shapes are Strawberry's own TypedDicts for this protocol. Errors are messages, not
close codes: a refused connection_init gets `connection_error` before the socket closes
(4403 no valid tenant or credential, 4429 too many connections of the tenant).
"""

from __future__ import annotations

from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionAckMessage,
    ConnectionErrorMessage,
    ConnectionInitMessage,
    ConnectionTerminateMessage,
    DataMessage,
    ErrorMessage,
    StartMessage,
    StopMessage,
)

from conversation_service.web.ws.operation import ErrorList
from conversation_service.web.ws.protocol import ConnectionPort, Protocol, Refusal

NAME = "graphql-ws"

__all__ = [
    "NAME",
    "ConnectionAckMessage",
    "ConnectionErrorMessage",
    "ConnectionInitMessage",
    "ConnectionTerminateMessage",
    "DataMessage",
    "ErrorMessage",
    "GraphQLWS",
    "StartMessage",
    "StopMessage",
]

#: what a refused connection_init says before the socket closes
REFUSAL_MESSAGES = {4403: "Forbidden: no valid tenant or credential"}


class GraphQLWS(Protocol):
    name = NAME
    result_type = "data"

    def errors(self, op_id: str, errors: ErrorList) -> list[dict[str, Any]]:
        return [
            {"id": op_id, "type": "error", "payload": errors[0] if errors else {}},
            self.complete(op_id),
        ]

    def keepalive(self) -> dict[str, Any]:
        return {"type": "ka"}

    async def invalid(self, conn: ConnectionPort) -> bool:
        conn.send({"type": "error", "payload": {"message": "Invalid message"}})
        return False

    async def handle(self, conn: ConnectionPort, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(conn, cast(ConnectionInitMessage, message))
        elif kind == "start":
            await self._start(conn, cast(StartMessage, message))
        elif kind == "stop":
            op_id = cast(StopMessage, message).get("id")
            if isinstance(op_id, str):
                conn.stop(op_id)
        elif kind == "connection_terminate":
            await conn.close(1000, "terminated")
        else:
            conn.send({"type": "error", "payload": {"message": f"Unknown message type {kind!r}"}})

    async def _init(self, conn: ConnectionPort, message: ConnectionInitMessage) -> None:
        try:
            await conn.admit(message.get("payload"))
            await conn.admit_rate()
        except Refusal as refused:
            error: ConnectionErrorMessage = {
                "type": "connection_error",
                "payload": {"message": REFUSAL_MESSAGES.get(refused.code, refused.reason)},
            }
            if refused.extensions is not None:
                error["payload"] = {"message": refused.reason, "extensions": refused.extensions}
            conn.send(dict(error))
            await conn.flush(1.0)
            await conn.close(refused.code, refused.reason)
            return
        conn.acked = True
        conn.send({"type": "connection_ack"})
        conn.send(self.keepalive())

    async def _start(self, conn: ConnectionPort, message: StartMessage) -> None:
        op_id = message.get("id")
        if not isinstance(op_id, str) or not op_id:
            conn.send({"type": "error", "payload": {"message": "start needs an id"}})
            return
        if not conn.acked:
            conn.send({"id": op_id, "type": "error", "payload": {"message": "Unauthorized"}})
            return
        if conn.has_operation(op_id):
            conn.stop(op_id)
        await conn.start(op_id, message.get("payload"))
