"""A real three-master Redis Cluster of the test's own: `redis-server --cluster-enabled yes` on
free ports, joined by `redis-cli --cluster create`, ready once every node's CLUSTER INFO says so.
Under CI=true a missing redis-server or redis-cli fails the tests instead of skipping them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from conversation_service.adapters.redis_client import redis_client, slot_of
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade

CI = os.environ.get("CI", "").lower() == "true"
BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (the cluster bus)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: the Redis Cluster tests need it"
        if CI:
            pytest.fail(f"{message} (CI=true: real services are required)", pytrace=False)
        pytest.skip(message)
    return path


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster-bus port (+10000) is free and valid too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + BUS_OFFSET > 65_535 or port in taken or port + BUS_OFFSET in taken:
            continue
        if _bindable(port + BUS_OFFSET):
            return port


class ClusterProcesses:
    """Three masters, no replicas, append-only files (a restarted master keeps its data, as a
    production master does), `cluster-require-full-coverage no` so the other masters keep
    serving their slots while one is away."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        taken: set[int] = set()
        self.ports: list[int] = []
        for _ in range(size):
            port = free_cluster_port(taken)
            taken.update((port, port + BUS_OFFSET))
            self.ports.append(port)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """Two seeds are enough: the client discovers the third."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def _spawn(self, port: int) -> None:
        work = self.root / str(port)
        work.mkdir(parents=True, exist_ok=True)
        args = {
            "port": str(port),
            "bind": "127.0.0.1",
            "dir": str(work),
            "cluster-enabled": "yes",
            "cluster-config-file": str(work / "nodes.conf"),
            "cluster-node-timeout": "2000",
            "cluster-require-full-coverage": "no",
            "save": "",
            "appendonly": "yes",
            "appendfsync": "always",
        }
        self.procs[port] = subprocess.Popen(
            [_binary("redis-server"), *(x for k, v in args.items() for x in (f"--{k}", v))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        cli = _binary("redis-cli")
        for port in self.ports:
            self._spawn(port)
        for port in self.ports:
            await _until_pong(port)
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        create = await asyncio.create_subprocess_exec(
            *(cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(create.communicate(), 60)
        assert create.returncode == 0, out.decode(errors="replace")
        await self.ready()

    async def ready(self, wait_s: float = 30) -> None:
        """Every node says `cluster_state:ok` and knows every master."""
        async with asyncio.timeout(wait_s):
            while True:
                if all([await _cluster_ok(p, len(self.ports)) for p in self.ports]):
                    return
                await asyncio.sleep(0.05)

    def stop_node(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.terminate()
        proc.wait(10)

    async def start_node(self, port: int) -> None:
        """The same node again: its nodes.conf keeps its id and slots, its AOF its data."""
        self._spawn(port)
        await _until_pong(port)
        await self.ready()

    def stop(self) -> None:
        for port in list(self.procs):
            self.stop_node(port)

    async def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot."""
        slot = slot_of(key)
        client = aioredis.Redis(port=self.ports[0])
        try:
            for start, end, master, *_ in await client.cluster("SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        finally:
            await client.aclose()
        raise AssertionError(f"no master serves slot {slot}")

    async def add_replica(self, master_port: int) -> int:
        """A fourth node, replica of the master at `master_port`; returns once it replicates."""
        taken = {p for port in self.procs for p in (port, port + BUS_OFFSET)}
        port = free_cluster_port(taken)
        self._spawn(port)
        await _until_pong(port)
        ids = await self.node_ids()
        add = await asyncio.create_subprocess_exec(
            *(_binary("redis-cli"), "--cluster", "add-node", f"127.0.0.1:{port}"),
            *(f"127.0.0.1:{master_port}", "--cluster-slave", "--cluster-master-id"),
            ids[master_port],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(add.communicate(), 60)
        assert add.returncode == 0, out.decode(errors="replace")
        replica = aioredis.Redis(port=port, decode_responses=True)
        try:
            async with asyncio.timeout(30):
                while (await replica.info("replication")).get("master_link_status") != "up":
                    await asyncio.sleep(0.05)
        finally:
            await replica.aclose()
        return port

    async def move_slot(self, slot: int, to_port: int) -> None:
        """Hand an empty slot to another master, as a resharding does (IMPORTING, MIGRATING,
        then NODE on every master)."""
        ids = await self.node_ids()
        source = await self.master_of_slot(slot)
        admins = {p: aioredis.Redis(port=p) for p in self.ports}
        try:
            await admins[to_port].cluster("SETSLOT", slot, "IMPORTING", ids[source])
            await admins[source].cluster("SETSLOT", slot, "MIGRATING", ids[to_port])
            for port in (to_port, source, *(p for p in self.ports if p not in (to_port, source))):
                await admins[port].cluster("SETSLOT", slot, "NODE", ids[to_port])
        finally:
            for admin in admins.values():
                await admin.aclose()

    async def node_ids(self) -> dict[int, str]:
        """master port -> node id."""
        client = aioredis.Redis(port=self.ports[0], decode_responses=True)
        try:
            nodes = await client.cluster("NODES")
        finally:
            await client.aclose()
        return {
            int(addr.split(":")[1].split("@")[0]): info["node_id"] for addr, info in nodes.items()
        }

    async def master_of_slot(self, slot: int) -> int:
        return (await slot_owners(self))[slot]

    def client(self) -> RedisCluster:
        """A cluster client whose reads outlast a test's BRPOP (redis-py's default is 5 s)."""
        cluster = redis_client(self.url, socket_timeout=30)
        assert isinstance(cluster, RedisCluster)
        return cluster


async def _until_pong(port: int, wait_s: float = 10) -> None:
    client = aioredis.Redis(port=port, socket_connect_timeout=1)
    try:
        async with asyncio.timeout(wait_s):
            while True:
                with contextlib.suppress(OSError, aioredis.RedisError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def _cluster_ok(port: int, masters: int) -> bool:
    client = aioredis.Redis(port=port, socket_connect_timeout=1, decode_responses=True)
    try:
        info = await client.cluster("INFO")
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()
    fields: dict[str, Any] = dict(info)  # redis-py parses CLUSTER INFO into a dict
    return fields.get("cluster_state") == "ok" and int(fields.get("cluster_size") or 0) == masters


@pytest.fixture(scope="session")
async def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ClusterProcesses]:
    """One cluster for the tests that do not stop a node (each writes under its own keys)."""
    cluster = ClusterProcesses(tmp_path_factory.mktemp("cluster"))
    try:
        await cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def own_cluster(tmp_path: Path) -> AsyncIterator[ClusterProcesses]:
    """A cluster of the test's own, for tests that stop and restart a master."""
    cluster = ClusterProcesses(tmp_path / "cluster")
    try:
        await cluster.start()
        yield cluster
    finally:
        cluster.stop()


def tenant_on(port: int, cluster_slots: dict[int, int], prefix: str = "t") -> str:
    """A fresh tenant id whose hash tag lands on the master at `port`."""
    while True:
        tenant = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if cluster_slots.get(slot_of(tenant)) == port:
            return tenant


async def slot_owners(cluster: ClusterProcesses) -> dict[int, int]:
    """slot -> master port."""
    client = aioredis.Redis(port=cluster.ports[0])
    try:
        owners: dict[int, int] = {}
        for start, end, master, *_ in await client.cluster("SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = int(master[1])
        return owners
    finally:
        await client.aclose()


@pytest.fixture
def pg_url(database_urls: dict[str, Any]) -> str:
    url = database_urls["postgresql"]
    if isinstance(url, BaseException):
        from tests.conftest import _unavailable

        _unavailable("PostgreSQL", url)
    return str(url)


@pytest.fixture
async def container(
    database_urls: dict[str, Any], _container_pool: dict[str, Container]
) -> Container:
    """PostgreSQL only here (the worker's Redis side is what these tests are about)."""
    url = database_urls["postgresql"]
    if isinstance(url, BaseException):
        from tests.conftest import _unavailable

        _unavailable("PostgreSQL", url)
    if "postgresql" not in _container_pool:
        c = await build_container(
            Settings(auth_mode="none", database_url=url, fast_path_verify=True)
        )
        await upgrade(c.db.engine)
        _container_pool["postgresql"] = c
    return _container_pool["postgresql"]
