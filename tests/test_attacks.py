"""The abuse list of the abuse-resistance work, end to end: each attack against a real `serve`
process on PostgreSQL while a probe (another tenant's `conversations(first: 5)`) loops in a
thread. Every attack must be refused or bounded with the contract's code, the probe's p99 must
stay under 100 ms and the server's resident memory (its peak, `VmHWM`) must grow by less than
100 MB.

Each attack records its figures (seconds, bytes, outcome); `ATTACK_REPORT=path` writes them as
JSON, `-s` prints them, `ATTACK_ONLY=word,word` runs only the attacks whose name has one. The limits that would make the test slow are set low here
(`HTTP_*_TIMEOUT_S`, `WS_MAX_CONNECTIONS_PER_TENANT`, `WS_MAX_BUFFER_BYTES`, a per-tenant rate
limit for the burst); every other tenant's `RATE_LIMIT` is raised so that the attacks measure
their own limit, not the rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from bench.context_bench import seed
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings

pytestmark = pytest.mark.slow

#: the settings of the defences this test attacks (query, HTTP and WebSocket limits)
DEFENCES = {"max_query_cost", "max_body_bytes", "http_header_timeout_s", "ws_max_buffer_bytes",
            "ws_max_connections_per_tenant", "rate_limit"}  # fmt: skip
if not set(Settings.model_fields) >= DEFENCES:
    pytest.skip(
        f"needs the limits {sorted(DEFENCES - set(Settings.model_fields))}",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ATTACKER = "bench"  # the tenant `bench.context_bench.seed` writes
PROBE_TENANT = "probe"
BURST_TENANT = "burst"
BURST_LIMIT = 50
WS_SOCKETS = 5
WS_BUFFER = 1_048_576
MB = 2**20
UNKNOWN = "00000000-0000-0000-0000-000000000000"
ATTACK_TIMEOUT_S = 20.0


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    port: int
    pid: int
    log: Path

    def status(self, key: str) -> int:
        """`VmRSS` / `VmHWM` of the server process, in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    name = f"cs_attacks_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BROADCAST_URL")},
        "DATABASE_URL": database,
        "AUTH_MODE": "none",
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT": "1000000/second",
        "TENANT_LIMITS": json.dumps({BURST_TENANT: f"{BURST_LIMIT}/minute"}),
        "WS_MAX_CONNECTIONS_PER_TENANT": str(WS_SOCKETS),
        "WS_MAX_BUFFER_BYTES": str(WS_BUFFER),
        "HTTP_HEADER_TIMEOUT_S": "2",
        "HTTP_BODY_TIMEOUT_S": "2",
        "CRM_SYNC_RUNNER": "false",
    }
    cli = [sys.executable, "-m", "conversation_service"]
    subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    port = free_port()
    log = tmp_path_factory.mktemp("attacks") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cli, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield Server(base, port, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- the probe ----------------------------------------------------------------------------------


PROBE_SCRIPT = """
import sys, time, httpx
base, out, tenant = sys.argv[1:4]
query = {"query": "{ conversations(first: 5) { nodes { id title } } }"}
with httpx.Client(base_url=base, headers={"X-Tenant-ID": tenant}, timeout=120) as client, \\
        open(out, "a", buffering=1) as f:
    while True:
        t, p = time.time(), time.perf_counter()
        try:
            r = client.post("/graphql", json=query)
            ok = r.status_code == 200 and "errors" not in r.json()
        except httpx.HTTPError:
            ok = False
        f.write(f"{t} {time.perf_counter() - p} {int(ok)}\\n")
        time.sleep(0.02)
"""


class Probe:
    """Another tenant's normal read in a loop, in its own process (so that the attackers'
    client work in this process does not delay it): one line per request, wall-clock start,
    seconds, success."""

    def __init__(self, base: str, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SCRIPT, base, str(out), PROBE_TENANT], cwd=ROOT
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def samples(self, t0: float = 0.0, t1: float = float("inf")) -> list[tuple[float, float, bool]]:
        """Requests that overlap [t0, t1]."""
        rows = []
        for line in self.out.read_text().splitlines():
            start, seconds, ok = line.split()
            if float(start) < t1 and float(start) + float(seconds) > t0:
                rows.append((float(start), float(seconds), ok == "1"))
        return rows

    def p99_ms(self, t0: float = 0.0, t1: float = float("inf")) -> float:
        values = sorted(s for _, s, _ in self.samples(t0, t1)) or [float("nan")]
        return 1000 * values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]


# -- the attacks --------------------------------------------------------------------------------


@dataclass
class Figures:
    attack: str
    seconds: float = 0.0
    sent_bytes: int = 0
    received_bytes: int = 0
    outcome: str = ""
    refused: bool = False
    probe_p99_ms: float = 0.0
    rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def codes(body: Any) -> list[str]:
    errors = body.get("errors", []) if isinstance(body, dict) else []
    return [str(e.get("extensions", {}).get("code")) for e in errors]


def limit_refusal(body: Any) -> str | None:
    """The limit named by a BAD_USER_INPUT refusal of the whole document, else None."""
    if not isinstance(body, dict) or body.get("data") is not None:
        return None
    for e in body.get("errors", []):
        ext = e.get("extensions", {})
        if ext.get("code") == "BAD_USER_INPUT" and ext.get("limit"):
            return str(ext["limit"])
    return None


async def post_query(fig: Figures, base: str, tenant: str, query: str) -> None:
    payload = orjson.dumps({"query": query})
    fig.sent_bytes = len(payload)
    async with httpx.AsyncClient(base_url=base, timeout=ATTACK_TIMEOUT_S) as client:
        r = await client.post(
            "/graphql",
            content=payload,
            headers={"X-Tenant-ID": tenant, "Content-Type": "application/json"},
        )
    fig.received_bytes = len(r.content)
    body = orjson.loads(r.content) if r.content[:1] in (b"{", b"[") else None
    limit = limit_refusal(body)
    fig.refused = limit is not None
    fig.outcome = f"HTTP {r.status_code}, " + (
        f"refused by {limit}" if limit else f"codes {sorted(set(codes(body)))[:3]}"
    )


def nested(aliases: int = 1) -> str:
    one = (
        "conversations(first: 100) { nodes { messages(first: 100) { nodes {"
        " conversation { messages(first: 100) { nodes { seq content } } } } } } }"
    )
    return "{ " + " ".join(f"a{i}: {one}" for i in range(aliases)) + " }"


def deep(depth: int) -> str:
    steps = ["messages(first: 1) {", "nodes {", "conversation {"]
    opened = f'conversation(id: "{UNKNOWN}") {{'
    for i in range(depth - 1):
        opened += " " + steps[i % 3]
    leaf = {0: "totalCount", 1: "seq", 2: "id"}[(depth - 2) % 3]
    return "{ " + opened + " " + leaf + " }" * depth + " }"


QUERY_ATTACKS: list[tuple[str, str]] = [
    (
        "1,000 aliases of searchMessages",
        "{ "
        + " ".join(
            f'a{i}: searchMessages(query: "factura") {{ totalCount edges {{ node {{ seq }} }} }}'
            for i in range(1000)
        )
        + " }",
    ),
    ("first: 100 nested three levels", nested(1)),
    ("four aliases of it", nested(4)),
    (
        "1,000 aliases of conversations(first: 100) { totalCount }",
        "{ "
        + " ".join(f"a{i}: conversations(first: 100) {{ totalCount }}" for i in range(1000))
        + " }",
    ),
    ("depth 50", deep(50)),
    ("100 KB junk document", "{" + " a" * 50_000 + " }"),
]


async def raw_http(fig: Figures, port: int, head: bytes, body: bytes, wait_s: float) -> None:
    """Send `head` + `body` and then nothing; what does the server do within `wait_s`?"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    fig.sent_bytes = len(head) + len(body)
    t = time.perf_counter()
    data = b""
    try:
        async with asyncio.timeout(wait_s):
            while chunk := await reader.read(65536):
                data += chunk
        how = "closed"
    except TimeoutError:
        how = f"still open after {wait_s:.0f} s"
    except ConnectionResetError:  # closed with our bytes unread: the kernel resets
        how = "reset by the server"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    fig.received_bytes = len(data)
    status = data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "no answer"
    fig.outcome = f"{status}; {how} after {time.perf_counter() - t:.1f} s"
    fig.extra["status_line"] = status


async def big_body(fig: Figures, server: Server) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Tenant-ID: " + ATTACKER.encode() + b"\r\nContent-Length: 209715200\r\n\r\n"
    )
    try:
        await raw_http(fig, server.port, head, b" " * 65536, 5.0)
    except ConnectionResetError:  # while still sending: the server closed without reading
        fig.extra["status_line"] = "reset while sending"
        fig.outcome = "reset while sending"
    # 413 (or, when the server closes before our 64 KB are read, a reset that may destroy the
    # 413 in flight): either way the server did not wait for the 200 MB
    status = fig.extra["status_line"]
    fig.refused = " 413 " in status + " " or "reset" in status + fig.outcome


async def slow_body(fig: Figures, server: Server) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Tenant-ID: " + ATTACKER.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    await raw_http(fig, server.port, head, b'{"query": ', 6.0)
    fig.refused = "closed" in fig.outcome or "reset" in fig.outcome


async def partial_header(fig: Figures, server: Server) -> None:
    await raw_http(fig, server.port, b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Tena", b"", 6.0)
    fig.refused = "closed" in fig.outcome or "reset" in fig.outcome


async def gql_ok(client: httpx.AsyncClient, tenant: str, query: str, **variables: Any) -> Any:
    r = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"X-Tenant-ID": tenant},
    )
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


CREATE = "mutation($t: String) { createConversation(input: {title: $t}) { id } }"
ADD = (
    "mutation($c: ID!, $x: String!) { addMessage(conversationId: $c,"
    " input: {role: USER, content: $x}) { seq } }"
)


async def ws_connect(server: Server, tenant: str, **kw: Any) -> Any:
    ws = await connect(
        server.base.replace("http", "ws") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        compression=None,
        **kw,
    )
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"tenantId": tenant}}))
    return ws


async def publish(server: Server, tenant: str, count: int) -> int:
    """`count` messages of 90 KB into a new conversation of `tenant`; the bytes published."""
    content = " ".join(f"palabra{i % 97}" for i in range(12000))[:90_000]
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        cid = (await gql_ok(client, tenant, CREATE, t="flood"))["createConversation"]["id"]
        for _ in range(count):
            await gql_ok(client, tenant, ADD, c=cid, x=content)
    return count * len(content)


async def ws_never_reads(fig: Figures, server: Server) -> None:
    """A subscriber that never reads while 40 messages of 90 KB are published, selecting the
    content under 16 aliases (1.4 MB a frame, 55 MB in all). The same messages are first
    published with nobody listening: what the writes alone cost the server (its allocator keeps
    that memory), so the second round shows what the subscriber adds."""
    tenant = f"wsflood-{uuid.uuid4().hex[:6]}"
    rss0 = server.status("VmRSS")
    await publish(server, f"control-{uuid.uuid4().hex[:6]}", 40)
    control = server.status("VmRSS") - rss0
    ws = await ws_connect(server, tenant, max_queue=1, max_size=None, close_timeout=1)
    ack = orjson.loads(await ws.recv())
    assert ack["type"] == "connection_ack", ack
    contents = " ".join(f"c{i}: content" for i in range(16))
    subscription = f"subscription {{ messageAdded {{ seq {contents} }} }}"
    await ws.send(
        orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
    )
    rss1 = server.status("VmRSS")
    fig.sent_bytes = await publish(server, tenant, 40) * 16
    grown = server.status("VmRSS") - rss1
    fig.extra.update(rss_growth_mb=round(grown / MB, 1), control_growth_mb=round(control / MB, 1))
    fig.outcome = (
        f"server RSS +{grown / MB:.1f} MB while {fig.sent_bytes / MB:.1f} MB were sent to"
        f" it (the same writes with no subscriber: +{control / MB:.1f} MB)"
    )
    fig.refused = grown < 20 * MB  # bounded (1 MB WS_MAX_BUFFER_BYTES + frames being built)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 2)


async def ws_pings(fig: Figures, server: Server) -> None:
    """graphql-transport-ws pings for 3 s, never reading the pongs."""
    ws = await ws_connect(server, f"pings-{uuid.uuid4().hex[:6]}", max_queue=1, close_timeout=1)
    rss0 = server.status("VmRSS")
    sent = 0
    frame = orjson.dumps({"type": "ping", "payload": {"p": "x" * 64}}).decode()
    deadline = time.monotonic() + 3
    dropped = ""
    try:
        while time.monotonic() < deadline and sent < 100_000:
            await asyncio.wait_for(ws.send(frame), 3)
            sent += 1
            fig.sent_bytes += len(frame)
    except Exception as exc:  # the server dropped us (or our send blocked: TCP backpressure)
        dropped = type(exc).__name__
    grown = server.status("VmRSS") - rss0
    fig.extra.update(pings=sent, rss_growth_mb=round(grown / MB, 1), dropped=dropped)
    fig.outcome = f"{sent} pings, server RSS +{grown / MB:.1f} MB" + (
        f", connection ended ({dropped}, close {ws.close_code})" if dropped else ""
    )
    fig.refused = grown < 20 * MB
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 2)


async def ws_sockets(fig: Figures, server: Server) -> None:
    tenant = f"sockets-{uuid.uuid4().hex[:6]}"
    opened: list[Any] = []
    refused_code = None
    try:
        for _ in range(WS_SOCKETS + 3):
            ws = await ws_connect(server, tenant)
            opened.append(ws)
            try:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                assert frame["type"] == "connection_ack", frame
            except Exception:
                refused_code = ws.close_code
                break
        accepted = len(opened) - (1 if refused_code else 0)
        fig.outcome = f"{accepted} sockets accepted, next " + (
            f"closed with {refused_code}" if refused_code else "accepted too"
        )
        fig.refused = accepted == WS_SOCKETS and refused_code == 4429
    finally:
        for ws in opened:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)


async def bad_aliases_log(fig: Figures, server: Server) -> None:
    query = "{ " + " ".join(f'a{i}: conversation(id: "bad-{i:04d}") {{ id }}' for i in range(1000))
    query += " }"
    before = server.log.stat().st_size
    await post_query(fig, server.base, ATTACKER, query)
    await asyncio.sleep(0.5)  # let the server's log handler write the record out
    new = server.log.read_bytes()[before:].decode(errors="replace").splitlines()
    ours = [line for line in new if '"POST /graphql' not in line and "/graphql HTTP" not in line]
    size = sum(len(line) + 1 for line in ours)
    fig.extra.update(log_lines=len(ours), log_bytes=size)
    fig.outcome += f"; wrote {len(ours)} log lines, {size} bytes"
    fig.refused = len(ours) <= 1 and size < 2048


async def burst(fig: Figures, server: Server) -> None:
    statuses: dict[str, int] = {}
    retry_after: set[int] = set()
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:

        async def one() -> None:
            r = await client.post(
                "/graphql",
                json={"query": "{ conversations(first: 1) { totalCount } }"},
                headers={"X-Tenant-ID": BURST_TENANT},
            )
            body = r.json()
            key = (codes(body) or ["OK"])[0]
            statuses[key] = statuses.get(key, 0) + 1
            for e in body.get("errors", []):
                if "retryAfter" in e.get("extensions", {}):
                    retry_after.add(e["extensions"]["retryAfter"])

        for _ in range(20):  # 200 requests, 10 at a time
            await asyncio.gather(*(one() for _ in range(10)))
    fig.sent_bytes = 200
    fig.outcome = f"200 requests: {statuses}, retryAfter {sorted(retry_after)[:3]}"
    fig.refused = statuses.get("OK", 0) == BURST_LIMIT and all(r >= 1 for r in retry_after)


ATTACKS: list[tuple[str, Any]] = [
    ("200 MB POST body", big_body),
    ("slow body", slow_body),
    ("partial header", partial_header),
    ("WebSocket client that never reads", ws_never_reads),
    ("100,000 pings with unread pongs", ws_pings),
    (f"one tenant opening > {WS_SOCKETS} sockets", ws_sockets),
    ("40 KB request of 1,000 bad aliases", bad_aliases_log),
    (f"burst above the rate limit ({BURST_LIMIT}/minute)", burst),
]


async def test_attacks_are_refused_or_bounded(database: str, server: Server) -> None:
    container = await build_container(Settings(auth_mode="none", database_url=database))
    try:
        t = time.perf_counter()
        await seed(container.db, 100, 100, 1)  # the attacker: 100 conversations x 100 messages
        seeded_s = time.perf_counter() - t
    finally:
        await container.close()
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        for i in range(5):
            await gql_ok(client, PROBE_TENANT, CREATE, t=f"probe {i}")
    probe = Probe(server.base, server.log.with_name("probe.txt"))
    deadline = time.monotonic() + 10
    while not probe.out.exists() or not probe.out.read_text():
        assert time.monotonic() < deadline, "the probe did not start"
        await asyncio.sleep(0.05)
    await asyncio.sleep(2)  # the probe alone: the machine's own noise
    baseline = probe.p99_ms()
    rss_start = server.status("VmRSS")
    results: list[Figures] = []
    try:
        runs: list[tuple[str, Any]] = [
            (name, lambda f, s, q=q: post_query(f, s.base, ATTACKER, q))
            for name, q in QUERY_ATTACKS
        ] + ATTACKS
        if only := os.environ.get("ATTACK_ONLY"):  # e.g. ATTACK_ONLY=WebSocket,pings
            runs = [r for r in runs if any(w in r[0] for w in only.split(","))]
        for name, attack in runs:
            fig = Figures(name)
            wall = time.time()
            t = time.perf_counter()
            try:
                await asyncio.wait_for(attack(fig, server), ATTACK_TIMEOUT_S + 10)
            except Exception as exc:
                fig.outcome = f"{fig.outcome} {type(exc).__name__}: {exc}"[:300]
            fig.seconds = round(time.perf_counter() - t, 2)
            fig.probe_p99_ms = round(probe.p99_ms(wall, time.time()), 1)
            fig.rss_mb = round(server.status("VmRSS") / MB, 1)
            results.append(fig)
    finally:
        probe.stop()
    peak = server.status("VmHWM")
    p99 = probe.p99_ms()
    samples = probe.samples()
    failures = [start for start, _, ok in samples if not ok]
    report = {
        "seeded_s": round(seeded_s, 1),
        "probe_requests": len(samples),
        "probe_baseline_p99_ms": round(baseline, 1),
        "probe_p99_ms": round(p99, 1),
        "probe_failures": len(failures),
        "rss_start_mb": round(rss_start / MB, 1),
        "rss_peak_mb": round(peak / MB, 1),
        "attacks": [vars(f) for f in results],
    }
    if path := os.environ.get("ATTACK_REPORT"):
        Path(path).write_text(json.dumps(report, indent=1))  # noqa: ASYNC240
    for f in results:
        print(
            f"{f.attack:<58} {f.seconds:6.2f} s  sent {f.sent_bytes:>9}  got {f.received_bytes:>9}"
            f"  p99 {f.probe_p99_ms:7.1f} ms  rss {f.rss_mb:7.1f} MB  {f.outcome}"
        )
    print(f"probe p99 {p99:.1f} ms over {len(samples)} (alone {baseline:.1f} ms); RSS {rss_start / MB:.0f} MB, "
          f"peak {peak / MB:.0f} MB")  # fmt: skip
    not_refused = [f"{f.attack}: {f.outcome}" for f in results if not f.refused]
    assert not not_refused, not_refused
    assert not failures, f"{len(failures)} probe requests failed"
    assert p99 < 100, report
    assert peak - rss_start < 100 * MB, report
