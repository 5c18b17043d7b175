"""A real server with AUTH_MODE=required, two tenants' data, and a credential of every kind."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update

from conversation_service.config import Settings
from conversation_service.domain.api_keys import create_key, revoke_key
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import NewConversation
from conversation_service.domain.conversations import create_conversation
from conversation_service.models import api_keys
from tests.realtime.conftest import LiveServer, pg_url, protocol, start_server

__all__ = ["pg_url", "protocol"]

JWT_SECRET = "test-secret-of-thirty-two-bytes-or-more!"


def make_jwt(
    tenant: str | None, roles: list[str], *, sub: str = "user-1", exp_s: float = 300, **extra: Any
) -> str:
    claims: dict[str, Any] = {"sub": sub, "roles": roles, "exp": int(time.time() + exp_s), **extra}
    if tenant is not None:
        claims["tenant_id"] = tenant
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@dataclass
class World:
    server: LiveServer
    tenant_a: str
    tenant_b: str
    #: a conversation of tenant A
    conversation_a: str
    keys: dict[str, str]
    key_ids: dict[str, str]

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}


async def _key(server: LiveServer, tenant: str, role: str, **kw: Any) -> tuple[str, str]:
    db = server.container.db.acting("test")
    issued = await db.run(tenant, create_key, tenant, role, **kw)
    return issued.token, issued.record.key_id


@pytest.fixture
async def world(pg_url: str, redis_url: str) -> AsyncIterator[World]:
    settings = Settings(
        database_url=pg_url,
        broadcast_url=redis_url,
        auth_mode="required",
        jwt_secret=JWT_SECRET,
        jwt_leeway_s=0,
        api_key_cache_ttl_s=0.2,
        ws_auth_recheck_s=0.2,
        rate_limit="1000000/second",
    )
    server = await start_server(settings)
    try:
        a, b = f"a-{uuid.uuid4().hex[:10]}", f"b-{uuid.uuid4().hex[:10]}"
        db = server.container.db.acting("test")
        conv, _ = await db.run(a, create_conversation, NewConversation(title="secret of A"))
        keys: dict[str, str] = {}
        ids: dict[str, str] = {}
        for name, tenant, role in (
            ("reader_a", a, "reader"),
            ("writer_a", a, "writer"),
            ("admin_a", a, "admin"),
            ("writer_b", b, "writer"),
            ("expired_a", a, "writer"),
            ("revoked_a", a, "writer"),
            ("service", "*", "service"),
        ):
            keys[name], ids[name] = await _key(server, tenant, role, name=name)
        await db.run(a, revoke_key, ids["revoked_a"])
        async with server.container.db.engine.begin() as conn:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == ids["expired_a"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        server.container.auth.keys.forget()
        keys["jwt_writer_a"] = make_jwt(a, ["writer"])
        keys["jwt_expired_a"] = make_jwt(a, ["writer"], exp_s=-10)
        keys["jwt_reader_a"] = make_jwt(a, [], scope="openid reader")
        yield World(server, a, b, conv.id, keys, ids)
    finally:
        await server.stop()
        await server.container.close()
