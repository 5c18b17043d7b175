"""Turns committed domain events into broadcast messages on tenant-scoped channels."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from conversation_service.adapters.redis_client import tagged
from conversation_service.domain.events import Event


class Broadcast(Protocol):
    async def publish_many(self, items: list[tuple[str, bytes]]) -> None: ...


def channel(tenant_id: str, kind: str, conversation_id: str | None = None) -> str:
    """Channels are scoped by tenant (a subscriber can never receive another tenant's events):
    one per tenant and kind, and one per conversation so that a subscriber of one conversation
    is not woken by the tenant's other conversations. The tenant is the hash tag
    (`cs:{acme}:message_added`): on a Redis Cluster a commit's channels share one slot, so its
    publishes are one round trip to one master."""
    if conversation_id is None:
        return f"cs:{tagged(tenant_id)}:{kind}"
    return f"cs:{tagged(tenant_id)}:{kind}:{conversation_id}"


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
        items: list[tuple[str, bytes]] = []
        for e in events:
            body = encode(e)
            items.append((channel(e.tenant_id, e.kind, e.conversation_id), body))
            if e.kind != "state_changed":  # stateChanged always names its conversation
                items.append((channel(e.tenant_id, e.kind), body))
        await self.broadcast.publish_many(items)
