"""Turns committed domain events into broadcast messages on tenant-scoped channels."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from conversation_service.domain.events import Event


class Broadcast(Protocol):
    async def publish_many(self, items: list[tuple[str, bytes]]) -> None: ...


def channel(tenant_id: str, kind: str) -> str:
    """One channel per tenant and event kind: a subscriber can never receive another tenant's."""
    return f"cs:{tenant_id}:{kind}"


def encode(event: Event) -> bytes:
    return orjson.dumps({"kind": event.kind, "data": event.payload()})


def decode(raw: bytes | str) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(raw)
    return value


class BroadcastPublisher:
    """The unit of work's publisher: one pipelined publish per commit."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast

    async def publish(self, events: list[Event]) -> None:
        await self.broadcast.publish_many(
            [(channel(e.tenant_id, e.kind), encode(e)) for e in events]
        )
