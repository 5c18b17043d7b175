"""The WebSocket door under AUTH_MODE=required: credentials in `connection_init` (both payload
forms) or the upgrade header, 4403 for a bad or foreign one, roles per operation, no existence
oracle, and an open socket closed once its credential is revoked or expires."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from conversation_service.domain.api_keys import create_key, revoke_key
from tests.auth.conftest import World, make_jwt
from tests.auth.graphql_probes import probes
from tests.realtime.conftest import TRANSPORT_WS, WSClient

SUBSCRIPTIONS = [p for p in probes() if p.kind == "subscription"]
MUTATIONS = [p for p in probes() if p.kind == "mutation"]


async def _refused(client: WSClient, protocol: str) -> None:
    if protocol != TRANSPORT_WS:
        frame = await client.next_frame(None)
        assert frame["type"] == "connection_error", frame
    await asyncio.wait_for(client.closed.wait(), 5)
    assert client.ws.close_code == 4403
    await client.close()


@pytest.mark.parametrize(
    ("credential", "tenant"),
    [
        (None, "a"),
        ("garbage", "a"),
        ("writer_a", "b"),
        ("expired_a", "a"),
        ("jwt_expired_a", "a"),
        ("revoked_a", "a"),
        ("service", None),
    ],
)
async def test_bad_or_foreign_credentials_close_4403(
    world: World, protocol: str, credential: str | None, tenant: str | None
) -> None:
    payload: dict[str, Any] = {}
    if tenant is not None:
        payload["tenantId"] = world.tenant_a if tenant == "a" else world.tenant_b
    if credential == "garbage":
        payload["authorization"] = "Bearer cs_garbage"
    elif credential is not None:
        payload["authorization"] = f"Bearer {world.keys[credential]}"
    client = await WSClient.connect(world.server.ws_url, protocol, init_payload=payload, ack=False)
    await _refused(client, protocol)


async def test_credential_sources(world: World) -> None:
    """`{"authorization": ...}`, `{"headers": {"Authorization": ...}}`, the upgrade header."""
    token = f"Bearer {world.keys['reader_a']}"
    for payload, headers in (
        ({"authorization": token}, None),
        ({"headers": {"Authorization": token}}, None),
        ({}, {"Authorization": token}),
    ):
        client = await WSClient.connect(world.server.ws_url, init_payload=payload, headers=headers)
        op = await client.subscribe(
            f'subscription S {{ messageAdded(conversationId: "{world.conversation_a}") {{ seq }} }}'
        )
        await client.stop(op)
        await client.close()


async def test_roles_and_no_oracle_over_the_socket(world: World, protocol: str) -> None:
    reader = await WSClient.connect(
        world.server.ws_url,
        protocol,
        init_payload={"authorization": f"Bearer {world.keys['reader_a']}"},
    )
    for probe in MUTATIONS:
        op = await reader.subscribe(probe.document(str(uuid.uuid4())))
        frame = await reader.next_frame(op)
        assert frame["type"] == "error", frame
        errors = frame["payload"] if isinstance(frame["payload"], list) else [frame["payload"]]
        assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], frame
    await reader.close()
    other = await WSClient.connect(
        world.server.ws_url,
        protocol,
        init_payload={"authorization": f"Bearer {world.keys['writer_b']}"},
    )
    for probe in SUBSCRIPTIONS:
        answers = []
        for target in (world.conversation_a, str(uuid.uuid4())):
            op = await other.subscribe(probe.document(target))
            frame = await other.next_frame(op)
            answers.append(str(frame).replace(target, "<id>").replace(f"'{op}'", "<op>"))
            await other.stop(op)
        assert answers[0] == answers[1], (probe.field, answers)
    await other.close()


async def test_a_revoked_key_closes_its_open_socket(world: World, protocol: str) -> None:
    db = world.server.container.db.acting("test")
    issued = await db.run(world.tenant_a, create_key, world.tenant_a, "reader")
    client = await WSClient.connect(
        world.server.ws_url, protocol, init_payload={"authorization": f"Bearer {issued.token}"}
    )
    op = await client.subscribe("subscription S { messageAdded { seq } }")
    await db.run(world.tenant_a, revoke_key, issued.record.key_id)
    # within WS_AUTH_RECHECK_S + API_KEY_CACHE_TTL_S (0.2 s + 0.2 s here)
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.ws.close_code == 4403
    assert op
    await client.close()


async def test_an_expiring_jwt_closes_its_open_socket(world: World) -> None:
    token = make_jwt(world.tenant_a, ["reader"], exp_s=1)
    client = await WSClient.connect(
        world.server.ws_url, init_payload={"authorization": f"Bearer {token}"}
    )
    await client.subscribe("subscription S { messageAdded { seq } }")
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.ws.close_code == 4403
    await client.close()
