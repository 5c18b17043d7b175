"""`uow.actor` (what the audit log records) is the caller on every door: the key id or JWT
`sub` over GraphQL HTTP, WebSocket and REST, `worker:<origin_service>` for worker actions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conversation_service.domain.events import ConversationChanged
from conversation_service.domain.ports import UnitOfWork
from tests.auth.conftest import World
from tests.realtime.conftest import WSClient


@pytest.fixture
def actors(world: World) -> Iterator[list[str | None]]:
    """The actor of every unit of work that changed a conversation, in order."""
    seen: list[str | None] = []

    async def record(uow: UnitOfWork, _event: Any) -> None:
        seen.append(uow.actor)

    handlers = world.server.container.db.reactions.in_transaction.setdefault(
        ConversationChanged, []
    )
    handlers.append(record)
    yield seen
    handlers.remove(record)


CREATE = 'mutation C { createConversation(input: {title: "t"}) { id } }'


async def test_every_door_writes_as_its_caller(world: World, actors: list[str | None]) -> None:
    base = world.server.http_url
    async with httpx.AsyncClient(timeout=10) as http:
        by_key = await http.post(
            f"{base}/graphql", json={"query": CREATE}, headers=world.bearer("writer_a")
        )
        assert "errors" not in by_key.json(), by_key.text
        by_jwt = await http.post(
            f"{base}/graphql", json={"query": CREATE}, headers=world.bearer("jwt_writer_a")
        )
        assert "errors" not in by_jwt.json(), by_jwt.text
        by_service = await http.post(
            f"{base}/api/v1/conversations",
            json={"title": "t"},
            headers={**world.bearer("service"), "X-Tenant-ID": world.tenant_b},
        )
        assert by_service.status_code == 201, by_service.text
        assert by_service.json()["tenant_id"] == world.tenant_b
    socket = await WSClient.connect(
        world.server.ws_url, init_payload={"authorization": f"Bearer {world.keys['admin_a']}"}
    )
    op = await socket.subscribe(CREATE)
    assert "errors" not in (await socket.next_data(op))
    await socket.close()
    assert actors == [
        world.key_ids["writer_a"],
        "user-1",
        world.key_ids["service"],
        world.key_ids["admin_a"],
    ]
    assert uuid.UUID(by_key.json()["data"]["createConversation"]["id"])
