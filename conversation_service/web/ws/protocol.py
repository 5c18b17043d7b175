"""What the two GraphQL-over-WebSocket protocols have in common, and what each must say.

A connection holds one `Protocol` object chosen at the upgrade (the subprotocol the client
asked for) and hands it every decoded message; the protocol answers through the connection's
small surface (`ConnectionPort`). No code outside the protocol modules asks which protocol a
connection speaks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar
from typing import Protocol as TypingProtocol

import orjson

from conversation_service.web.ws.operation import ErrorList


class Refusal(Exception):
    """A connection_init that cannot be accepted: close code and reason."""

    def __init__(self, code: int, reason: str, extensions: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        #: the GraphQL error extensions a protocol that can say more sends (graphql-ws)
        self.extensions = extensions


class ConnectionPort(TypingProtocol):
    """What a protocol may do with its connection."""

    acked: bool
    init_received: bool

    async def admit(self, payload: Any) -> None:
        """Take the tenant (and, AUTH_MODE=required, the credential) from the init payload;
        raises `Refusal`."""

    async def admit_rate(self) -> None:
        """Count the connect against the tenant's rate limit; raises `Refusal` (4429)."""

    def send(self, message: dict[str, Any], *, pong: bool = False) -> None: ...

    async def close(self, code: int, reason: str = "") -> None: ...

    async def flush(self, within: float) -> None: ...

    def has_operation(self, op_id: str) -> bool: ...

    async def start(self, op_id: str, payload: Any) -> None: ...

    def stop(self, op_id: str) -> None: ...


class Protocol(ABC):
    name: ClassVar[str]
    #: the message type carrying one result of an operation
    result_type: ClassVar[str]

    def next_frame(self, op_id: str, payload: str) -> str:
        """A result frame around an already serialised payload (shared by a group's members)."""
        op = orjson.dumps(op_id).decode()
        return f'{{"id":{op},"type":"{self.result_type}","payload":{payload}}}'

    def result(self, op_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": op_id, "type": self.result_type, "payload": body}

    def complete(self, op_id: str) -> dict[str, Any]:
        return {"id": op_id, "type": "complete"}

    @abstractmethod
    def errors(self, op_id: str, errors: ErrorList) -> list[dict[str, Any]]:
        """The frames that end an operation with errors."""

    @abstractmethod
    def keepalive(self) -> dict[str, Any]:
        """The frame sent every keep-alive interval once acknowledged."""

    @abstractmethod
    async def invalid(self, conn: ConnectionPort) -> bool:
        """A frame that is not a JSON object with a `type`; True when the socket is closed."""

    @abstractmethod
    async def handle(self, conn: ConnectionPort, message: dict[str, Any]) -> None:
        """One decoded client message."""
