"""Encryption in transit, with a throwaway certificate authority made in the test (`trustme`):
clients to `serve` over HTTPS and WSS, the service to Redis over `rediss://` and to PostgreSQL
over TLS with the server's certificate verified. Redis and PostgreSQL here are instances of our
own started on free ports (never the shared ones)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import trustme
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from tests.realtime.conftest import TRANSPORT_WS, free_port, start_server

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PEM files: the CA, and a server certificate for 127.0.0.1 / localhost."""
    d = tmp_path_factory.mktemp("tls")
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(paths["cert"]), append=True)
    server.private_key_pem.write_to_path(str(paths["key"]))
    for p in paths.values():
        p.chmod(0o644)
    return {k: str(v) for k, v in paths.items()}


async def test_serve_over_https_and_wss(
    database_urls: dict[str, object], certs: dict[str, str], tenant: str
) -> None:
    url = str(database_urls["sqlite"])
    live = await start_server(
        Settings(
            auth_mode="none", database_url=url, ssl_certfile=certs["cert"], ssl_keyfile=certs["key"]
        )
    )
    trust = ssl.create_default_context(cafile=certs["ca"])
    try:
        async with httpx.AsyncClient(verify=trust) as http:
            res = await http.post(
                f"https://127.0.0.1:{live.port}/graphql",
                json={"query": "mutation { createConversation(input: {}) { id } }"},
                headers={"X-Tenant-ID": tenant},
            )
            assert res.status_code == 200
            assert "errors" not in res.json()
        async with httpx.AsyncClient() as untrusting:  # the system store does not know our CA
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(f"https://127.0.0.1:{live.port}/healthz")
        async with connect(
            f"wss://127.0.0.1:{live.port}/graphql",
            subprotocols=[Subprotocol(TRANSPORT_WS)],
            ssl=trust,
        ) as ws:
            await ws.send(
                orjson.dumps({"type": "connection_init", "payload": {"tenantId": tenant}}).decode()
            )
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    finally:
        await live.stop()
        await live.container.close()


@pytest.fixture
def tls_redis(certs: dict[str, str]) -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            certs["cert"],
            "--tls-key-file",
            certs["key"],
            "--tls-ca-cert-file",
            certs["ca"],
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def _wait_redis(url: str) -> None:
    client = aioredis.from_url(url)
    try:
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_redis_over_tls(
    tls_redis: int, certs: dict[str, str], database_urls: dict[str, object]
) -> None:
    url = f"rediss://127.0.0.1:{tls_redis}/0?ssl_ca_certs={certs['ca']}"
    await _wait_redis(url)
    container = await build_container(
        Settings(
            auth_mode="none",
            database_url=str(database_urls["sqlite"]),
            redis_url=url,
            broadcast_url=url,
        )
    )
    try:
        await container.broadcast.ping()
        async with container.broadcast.subscribe("tls-check") as sub:
            await container.broadcast.publish("tls-check", b'{"hello": "tls"}')
            async with asyncio.timeout(5):
                item = await sub.get()
        assert item == {"hello": "tls"}
        assert container.redis is not None
        assert await container.redis.ping()
    finally:
        await container.close()
    plain = aioredis.from_url(
        f"redis://127.0.0.1:{tls_redis}/0", socket_connect_timeout=2, socket_timeout=2
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - a plain client cannot talk to a TLS port
        await plain.ping()
    await plain.aclose()


@pytest.fixture
def tls_postgres(certs: dict[str, str]) -> Iterator[int]:
    """Our own PostgreSQL 15 with `ssl = on` and only `hostssl` connections allowed."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="cs-pg-tls-"))
    data = root / "data"
    for name in ("cert", "key"):
        shutil.copy(certs[name], root / f"server.{name}")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        for f in (root, root / "server.cert", root / "server.key"):
            shutil.chown(f, "postgres", "postgres")
    (root / "server.key").chmod(0o600)
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n"
    )
    port = free_port()
    opts = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
        f"-c ssl=on -c ssl_cert_file={root}/server.cert -c ssl_key_file={root}/server.key"
    )
    subprocess.run(
        [
            *as_postgres,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-w",
            "start",
            "-l",
            str(root / "log"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_over_tls_with_verified_certificate(
    tls_postgres: int, certs: dict[str, str], monkeypatch: pytest.MonkeyPatch, tenant: str
) -> None:
    # libpq's variable, honoured by asyncpg: the CA that signs the server's certificate.
    monkeypatch.setenv("PGSSLROOTCERT", certs["ca"])
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{tls_postgres}/postgres?ssl=verify-full"
    container = await build_container(Settings(auth_mode="none", database_url=url))
    try:
        async with container.db.engine.connect() as conn:
            row = (
                await conn.exec_driver_sql(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                )
            ).one()
        assert row[0] is True
    finally:
        await container.close()
    # Without TLS the server refuses the connection (pg_hba: host ... reject).
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{tls_postgres}/postgres", ssl=False)
