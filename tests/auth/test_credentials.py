"""Credential verification itself: API keys (format, hash only, cache, revocation, expiry,
last-used batches, the CLI) and JWTs (HS256, RS256/ES256 from a JWKS file, iss/aud/exp)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from conversation_service.adapters.auth import Authenticator
from conversation_service.adapters.auth.jwt import JwtVerifier
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.domain.api_keys import create_key, revoke_key
from conversation_service.domain.errors import DomainError, Unauthenticated
from conversation_service.domain.identity import Principal, Role
from conversation_service.models import api_keys
from conversation_service.web.rate_limit import rate_limit_tenant

ROOT = Path(__file__).resolve().parents[2]


def _auth(container: Container, **settings: Any) -> Authenticator:
    s = container.settings.with_(auth_mode="required", **settings)
    return Authenticator(s, container.db)


async def test_a_key_is_stored_only_as_a_hash_and_read_once(
    container: Container, tenant: str
) -> None:
    db = container.db.acting("test")
    issued = await db.run(tenant, create_key, tenant, "writer", "ci")
    assert issued.token.startswith("cs_" + issued.record.key_id + "_")
    async with db.read() as conn:
        row = (
            await conn.execute(select(api_keys).where(api_keys.c.key_id == issued.record.key_id))
        ).one()
    assert issued.token.rsplit("_", 1)[-1] not in str(tuple(row))  # no secret in the row
    auth = _auth(container, api_key_cache_ttl_s=60)
    for _ in range(50):
        principal = await auth.verify(issued.token)
    assert principal == Principal(tenant, issued.record.key_id, frozenset({Role.WRITER}))
    assert auth.keys.reads == 1  # the hot path costs no database round trip
    wrong_secret = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated):
        await auth.verify(wrong_secret)


async def test_revocation_takes_effect_within_the_ttl(container: Container, tenant: str) -> None:
    db = container.db.acting("test")
    issued = await db.run(tenant, create_key, tenant, "reader")
    auth = _auth(container, api_key_cache_ttl_s=0.05)
    await auth.verify(issued.token)
    await db.run(tenant, revoke_key, issued.record.key_id)
    deadline = time.monotonic() + 5
    while True:  # polls the condition (the TTL is wall-clock time by definition)
        try:
            await auth.verify(issued.token)
        except Unauthenticated:
            break
        assert time.monotonic() < deadline, "a revoked key still works after its TTL"
        time.sleep(0.01)
    assert auth.keys.reads >= 2


async def test_last_used_is_written_in_batches(container: Container, tenant: str) -> None:
    db = container.db.acting("test")
    issued = await db.run(tenant, create_key, tenant, "reader")
    auth = _auth(container, api_key_touch_interval_s=0)
    await auth.verify(issued.token)
    async with db.read() as conn:
        before = await conn.scalar(
            select(api_keys.c.last_used_at).where(api_keys.c.key_id == issued.record.key_id)
        )
    assert before is None  # nothing written on the request's path
    await auth.keys.flush()
    async with db.read() as conn:
        after = await conn.scalar(
            select(api_keys.c.last_used_at).where(api_keys.c.key_id == issued.record.key_id)
        )
    assert after is not None


@pytest.mark.parametrize(
    ("tenant", "role", "expires"),
    [
        ("*", "writer", None),
        ("acme", "service", None),
        ("bad tenant", "reader", None),
        ("acme", "root", None),
        ("acme", "reader", 0),
    ],
)
async def test_key_rules(container: Container, tenant: str, role: str, expires: int | None) -> None:
    with pytest.raises(DomainError) as refused:
        await container.db.run(tenant, create_key, tenant, role, None, expires)
    assert refused.value.code == "BAD_USER_INPUT"


def _jwks(tmp_path: Path) -> tuple[Path, Any, Any]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key, alg in (("r1", rsa_key, "RS256"), ("e1", ec_key, "ES256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path, rsa_key, ec_key


def test_jwt_rules(tmp_path: Path) -> None:
    path, rsa_key, ec_key = _jwks(tmp_path)
    settings = Settings(
        jwt_jwks_file=str(path),
        jwt_secret="s" * 32,
        jwt_issuer="https://idp.example",
        jwt_audience="conversations",
        jwt_tenant_claim="org",
        jwt_leeway_s=0,
    )
    verifier = JwtVerifier.from_settings(settings)
    assert verifier is not None
    now = int(time.time())
    good = {
        "sub": "u1",
        "org": "acme",
        "roles": ["reader"],
        "exp": now + 60,
        "iss": "https://idp.example",
        "aud": "conversations",
    }
    rs = jwt.encode(good, rsa_key, algorithm="RS256", headers={"kid": "r1"})
    es = jwt.encode(
        {**good, "roles": [], "scope": "openid writer"},
        ec_key,
        algorithm="ES256",
        headers={"kid": "e1"},
    )
    hs = jwt.encode(good, "s" * 32, algorithm="HS256")
    assert verifier.verify(rs) == Principal("acme", "u1", frozenset({Role.READER}))
    assert verifier.verify(es).roles == frozenset({Role.WRITER})
    assert verifier.verify(hs).actor == "u1"
    refused = [
        jwt.encode({**good, "exp": now - 1}, rsa_key, algorithm="RS256", headers={"kid": "r1"}),
        jwt.encode({k: v for k, v in good.items() if k != "exp"}, "s" * 32, algorithm="HS256"),
        jwt.encode({**good, "iss": "https://evil.example"}, "s" * 32, algorithm="HS256"),
        jwt.encode({**good, "aud": "other"}, "s" * 32, algorithm="HS256"),
        jwt.encode({**good, "org": "has space"}, "s" * 32, algorithm="HS256"),
        jwt.encode({k: v for k, v in good.items() if k != "sub"}, "s" * 32, algorithm="HS256"),
        jwt.encode(good, "another secret of thirty-two bytes", algorithm="HS256"),
        jwt.encode(good, rsa_key, algorithm="RS256", headers={"kid": "e1"}),  # wrong key
        jwt.encode(good, "", algorithm="none"),
        "not.a.jwt",
    ]
    for token in refused:
        with pytest.raises(Unauthenticated):
            verifier.verify(token)
    only_jwks = JwtVerifier.from_settings(settings.with_(jwt_secret=None))
    assert only_jwks is not None
    with pytest.raises(Unauthenticated):
        only_jwks.verify(hs)  # no HS256 without a secret


def test_the_rate_limit_counts_the_credentials_tenant() -> None:
    principal = Principal("real", "key_x", frozenset({Role.READER}))
    forged = {"headers": [(b"x-tenant-id", b"victim")], "state": {"principal": principal}}
    assert rate_limit_tenant(forged) == "real"
    assert rate_limit_tenant({"headers": [(b"x-tenant-id", b"named")]}) == "named"


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "BROADCAST_URL"}
    }
    env |= {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}", "LOG_LEVEL": "WARNING"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conversation_service", "keys", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    created = run(
        "create",
        "--tenant",
        "acme",
        "--role",
        "admin",
        "--name",
        "first admin",
        "--expires-days",
        "30",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("cs_key_")
    assert len(token.splitlines()) == 1
    key_id = token[3:23]
    listed = run("list", "--tenant", "acme")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert rows[0][:3] == ["key_id", "tenant", "role"]
    assert [r[:4] for r in rows[1:]] == [[key_id, "acme", "admin", "first admin"]]
    assert token[24:] not in listed.stdout
    revoked = run("revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert run("list", "--tenant", "acme").stdout.strip().splitlines()[1].split("\t")[6] != ""
    assert run("revoke", "key_0000000000000000").returncode == 1
    assert run("create", "--tenant", "acme", "--role", "service").returncode == 2
