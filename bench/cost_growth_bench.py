"""Cost growth: the same reads on 10,000 and on 1,000,000 messages (`python -m bench.cost_growth_bench`).

Builds two PostgreSQL databases with the service's migrations, loads them by bulk SQL (no API):
tenant "g" plus nine other tenants holding about 90% of the rows; in "g" a hot conversation of
1,000 (small) / 10,000 (large) messages and 999 other conversations; a word in most of every
tenant's messages ("common") and a rare one ("rareword"). The load keeps the service's invariants:
gapless seq per conversation, counters (message_count, last_seq, total_tokens, last_message_at)
equal to what is stored, generated search vectors, tags mirrored in `conversation_tags`, one
pinned system message per conversation (seq 1).

Then runs the real service in-process (the ASGI app over httpx, `AUTH_MODE=none`) on both
databases and reports p50/p95 of 200 sequential requests per scenario after 20 warm-up requests
(past PostgreSQL's switch to generic plans, which happens from a prepared statement's sixth
execution), small and large alternating request by request, with the ratio large/small. Goal: every
read within 1.5x. Both databases are dropped at the end.

`BENCH_PG_DSN` (default postgresql://postgres@127.0.0.1:5432/postgres) names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "g"
OTHERS = [f"o{i}" for i in range(1, 10)]
HOT = "00000000-0000-4000-8000-00000000a0a0"
GOAL = 1.5


@dataclass(frozen=True)
class Shape:
    """How many rows one database holds."""

    name: str
    hot: int  # messages of the hot conversation of "g"
    g_per_conversation: int  # messages of each of g's 999 other conversations
    other_conversations: int  # per other tenant
    other_per_conversation: int

    @property
    def total(self) -> int:
        return (
            self.hot
            + 999 * self.g_per_conversation
            + len(OTHERS) * self.other_conversations * self.other_per_conversation
        )


SMALL = Shape(
    "small", hot=1_000, g_per_conversation=1, other_conversations=100, other_per_conversation=9
)
LARGE = Shape(
    "large",
    hot=10_000,
    g_per_conversation=90,
    other_conversations=1_000,
    other_per_conversation=100,
)

# Ten words per message from a 5,000-word vocabulary; "common" in 80% of the messages of every
# tenant, "rareword" in five messages of the hot conversation (the same page in both databases). Token counts are
# stored like the service stores them (an integer per message) and summed into the counters.
_LOAD = (
    """
INSERT INTO conversations (tenant_id, id, user_id, agent_id, session_id, title, status, tags,
    metadata, participants, crm_references, message_count, total_tokens, last_seq,
    last_message_at, created_at, updated_at, version)
SELECT t.tenant,
       CASE WHEN t.tenant = 'g' AND k = 0 THEN $1 ELSE gen_random_uuid()::text END,
       'user-' || (k % 50),
       CASE WHEN k % 10 = 0 THEN 'agent-rare' ELSE 'agent-main' END,
       NULL, 'conversation ' || k,
       CASE WHEN k % 20 = 0 THEN 'completed' ELSE 'active' END,
       CASE WHEN k % 10 = 0 THEN '["support", "vip"]' ELSE '["support"]' END::jsonb,
       '{}'::jsonb, '[]'::jsonb, '{}'::jsonb,
       n, 0, n, NULL,
       timestamptz '2026-01-01 00:00:00+00' + k * interval '1 minute',
       timestamptz '2026-01-01 00:00:00+00' + k * interval '1 minute', 1
FROM (SELECT 'g' AS tenant, 1000 AS convs, $3::int AS per
      UNION ALL SELECT unnest($5::text[]), $4::int, $6::int) t,
     LATERAL generate_series(0, t.convs - 1) k,
     LATERAL (SELECT CASE WHEN t.tenant = 'g' AND k = 0 THEN $2::int ELSE t.per END AS n) c
""",
    """
INSERT INTO conversation_tags (tenant_id, conversation_id, tag)
SELECT tenant_id, id, jsonb_array_elements_text(tags) FROM conversations
""",
    """
INSERT INTO messages (tenant_id, id, conversation_id, seq, role, content, content_type, agent_id,
    token_count, metadata, sources, created_at)
SELECT c.tenant_id, gen_random_uuid()::text, c.id, s,
       CASE WHEN s = 1 THEN 'system' WHEN s % 2 = 0 THEN 'user' ELSE 'assistant' END,
       concat_ws(' ',
           CASE WHEN (s + h) % 5 <> 0 THEN 'common' END,
           CASE WHEN c.message_count >= 1000 AND s % 100 = 5 AND s < 500 THEN 'rareword' END,
           'w' || ((s::bigint * 7919 + h) % 5000), 'w' || ((s::bigint * 104729 + h) % 5000),
           'w' || ((s::bigint * 1299709 + h) % 5000), 'w' || ((s::bigint * 15485863 + h) % 5000),
           'w' || ((s::bigint * 32452843 + h) % 5000), 'w' || ((s::bigint * 49979687 + h) % 5000),
           'w' || ((s::bigint * 67867967 + h) % 5000), 'w' || ((s::bigint * 86028121 + h) % 5000)),
       'text',
       CASE WHEN s % 2 = 1 AND s > 1 THEN c.agent_id END,
       12 + (s + h) % 7, '{}'::jsonb, '[]'::jsonb,
       c.created_at + s * interval '1 second'
FROM (SELECT tenant_id, id, agent_id, created_at, message_count,
             (hashtext(id) & 65535) AS h FROM conversations) c,
     LATERAL generate_series(1, c.message_count) s
""",
    """
UPDATE conversations c SET total_tokens = m.tokens, last_message_at = m.last_at,
                           updated_at = m.last_at
FROM (SELECT tenant_id, conversation_id, sum(token_count) AS tokens, max(created_at) AS last_at
      FROM messages GROUP BY tenant_id, conversation_id) m
WHERE c.tenant_id = m.tenant_id AND c.id = m.conversation_id
""",
)


async def build(name: str, shape: Shape, admin_dsn: str = ADMIN_DSN) -> float:
    """Create, migrate and load one database on the server of `admin_dsn`; returns the seconds
    the load took (the regression test of plans loads its small skewed database with it too)."""
    from conversation_service.adapters.database import create_engine
    from conversation_service.config import Settings
    from conversation_service.migrate import upgrade

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    engine = create_engine(Settings(database_url=_url(name, admin_dsn)))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(_dsn(name, admin_dsn))
    try:
        # Bulk load: secondary indexes are dropped and rebuilt from their own definitions (the
        # schema stays exactly the migrated one), FK triggers are off (rows are consistent by
        # construction).
        defs = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('messages', 'conversations', 'conversation_tags') "
            "AND indexname NOT LIKE '%pkey'"
        )
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        async with conn.transaction():
            for d in defs:
                await conn.execute(f'DROP INDEX "{d["indexname"]}"')
            await conn.execute(
                _LOAD[0],
                HOT,
                shape.hot,
                shape.g_per_conversation,
                shape.other_conversations,
                OTHERS,
                shape.other_per_conversation,
            )
            for statement in _LOAD[1:]:
                await conn.execute(statement)
            for d in defs:
                await conn.execute(d["indexdef"])
        await conn.execute("VACUUM (ANALYZE) conversations, conversation_tags, messages")
        await _check(conn, shape)
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def _check(conn: asyncpg.Connection, shape: Shape) -> None:
    """The invariants the service keeps, checked on what was loaded."""
    total = await conn.fetchval("SELECT count(*) FROM messages")
    assert total == shape.total, (total, shape.total)
    bad = await conn.fetchval(
        """SELECT count(*) FROM conversations c LEFT JOIN LATERAL (
             SELECT count(*) AS n, max(seq) AS mx, min(seq) AS mn, sum(token_count) AS t,
                    max(created_at) AS last_at
             FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id) m ON true
           WHERE c.message_count <> m.n OR c.last_seq <> m.mx OR m.mn <> 1
              OR c.total_tokens <> m.t OR c.last_message_at <> m.last_at"""
    )
    assert bad == 0, f"{bad} conversations whose counters differ from their messages"
    hot = await conn.fetchval(
        "SELECT last_seq FROM conversations WHERE tenant_id = 'g' AND id = $1", HOT
    )
    assert hot == shape.hot, hot
    tags = await conn.fetchval(
        "SELECT count(*) FROM conversations c WHERE jsonb_array_length(c.tags) <> "
        "(SELECT count(*) FROM conversation_tags t WHERE t.tenant_id = c.tenant_id "
        "AND t.conversation_id = c.id)"
    )
    assert tags == 0, tags


def _dsn(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    return f"{admin_dsn.rsplit('/', 1)[0]}/{name}"


def _url(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    return _dsn(name, admin_dsn).replace("postgresql://", "postgresql+asyncpg://", 1)


# ---- scenarios ----------------------------------------------------------------------------

MESSAGES = (
    "query($c: ID!) { messages(conversationId: $c, last: 50) "
    "{ nodes { id seq role content } pageInfo { hasPreviousPage } } }"
)
CONTEXT = (
    "query($c: ID!) { conversationContext(conversationId: $c, maxMessages: 50) "
    "{ totalTokens truncated omittedMessages messages { id seq role content } } }"
)
SEARCH = (
    "query($q: String!, $after: String) { searchMessages(query: $q, first: 20, after: $after) "
    "{ totalCount edges { cursor rank snippet node { id seq } } "
    "pageInfo { hasNextPage endCursor } } }"
)
CONVERSATIONS = (
    "query($after: String) { conversations(first: 20, after: $after) "
    "{ edges { cursor node { id title messageCount } } pageInfo { hasNextPage } } }"
)
ADD = (
    "mutation($c: ID!, $i: AddMessageInput!) { addMessage(conversationId: $c, input: $i) "
    "{ id seq } }"
)

Request = Callable[[], Awaitable[httpx.Response]]


def _checked(r: httpx.Response) -> dict[str, Any]:
    if r.status_code not in (200, 201):
        raise SystemExit(f"request failed: {r.status_code} {r.text[:300]}")
    body: dict[str, Any] = r.json()
    if "errors" in body:
        raise SystemExit(f"request failed: {body['errors']}")
    return body


async def scenarios(client: httpx.AsyncClient) -> list[tuple[str, Request]]:
    """The requests measured, each checked once for a real answer (so nothing measures errors)."""

    def gql(query: str, variables: dict[str, Any]) -> Request:
        return lambda: client.post("/graphql", json={"query": query, "variables": variables})

    first = _checked(await gql(SEARCH, {"q": "common", "after": None})())
    page = first["data"]["searchMessages"]
    assert len(page["edges"]) == 20, page["pageInfo"]
    assert page["pageInfo"]["hasNextPage"], page["pageInfo"]
    after = page["edges"][9]["cursor"]
    rare = _checked(await gql(SEARCH, {"q": "rareword", "after": None})())
    assert rare["data"]["searchMessages"]["totalCount"] == 5
    # A conversations keyset page ~780 rows deep (the cursor of the 780th newest).
    cursor = None
    for _ in range(39):
        body = _checked(await gql(CONVERSATIONS, {"after": cursor})())
        cursor = body["data"]["conversations"]["edges"][-1]["cursor"]
    ctx = _checked(await gql(CONTEXT, {"c": HOT})())["data"]["conversationContext"]
    assert len(ctx["messages"]) == 51, len(ctx["messages"])  # 50 + the pinned system message
    msgs = _checked(await gql(MESSAGES, {"c": HOT})())["data"]["messages"]["nodes"]
    assert len(msgs) == 50
    rest40 = _checked(await client.get("/api/v1/conversations", params={"page": 40}))
    assert len(rest40["items"]) == 20, rest40
    n = 0

    def add() -> Awaitable[httpx.Response]:
        nonlocal n
        n += 1
        content = f"cost growth message {n} common"
        return client.post(
            "/graphql",
            json={"query": ADD, "variables": {"c": HOT, "i": {"role": "USER", "content": content}}},
        )

    return [
        ("messages(conversationId: HOT, last: 50)", gql(MESSAGES, {"c": HOT})),
        ("conversationContext(HOT, maxMessages: 50)", gql(CONTEXT, {"c": HOT})),
        ("searchMessages common word (+totalCount)", gql(SEARCH, {"q": "common", "after": None})),
        ("searchMessages rare word (+totalCount)", gql(SEARCH, {"q": "rareword", "after": None})),
        ("searchMessages common, keyset page 2", gql(SEARCH, {"q": "common", "after": after})),
        ("conversations(first: 20, after: #780)", gql(CONVERSATIONS, {"after": cursor})),
        (
            "REST GET /conversations?page=40",
            lambda: client.get("/api/v1/conversations", params={"page": 40}),
        ),
        ("addMessage (HOT)", add),
    ]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def measure(requests: dict[str, Request], warmup: int, n: int) -> dict[str, list[float]]:
    """`warmup` then `n` timed requests per database, the databases alternating request by
    request (in alternating order), so both see the same load on a shared machine."""
    for request in requests.values():
        for _ in range(warmup):
            _checked(await request())
    out: dict[str, list[float]] = {name: [] for name in requests}
    names = list(requests)
    for i in range(n):
        for name in names if i % 2 == 0 else reversed(names):
            t = time.perf_counter()
            r = await requests[name]()
            out[name].append((time.perf_counter() - t) * 1000)
            _checked(r)
    return out


async def run(args: argparse.Namespace) -> int:
    from conversation_service.bootstrap import build_container
    from conversation_service.config import Settings
    from conversation_service.web.app import create_app

    tag = uuid.uuid4().hex[:8]
    names = {s.name: f"cs_bench_growth_{s.name}_{tag}" for s in (SMALL, LARGE)}
    containers = []
    try:
        for shape in (SMALL, LARGE):
            t = time.perf_counter()
            load = await build(names[shape.name], shape)
            print(
                f"built {shape.name}: {shape.total:,} messages in {time.perf_counter() - t:.1f} s "
                f"(bulk load and indexes {load:.1f} s)",
                flush=True,
            )
        # The service's own configuration path; authentication explicitly off.
        os.environ["AUTH_MODE"] = "none"
        for key in ("REDIS_URL", "BROADCAST_URL"):
            os.environ.pop(key, None)
        clients = {}
        for shape in (SMALL, LARGE):
            env = {
                **os.environ,
                "DATABASE_URL": _url(names[shape.name]),
                "AUTH_MODE": "none",
                "LOG_LEVEL": "WARNING",
                # sequential requests of one tenant, far above the default RATE_LIMIT
                "RATE_LIMIT": "1000000/second",
            }
            container = await build_container(Settings.from_env(env))
            containers.append(container)
            transport = httpx.ASGITransport(app=create_app(container=container))
            clients[shape.name] = httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers={"X-Tenant-ID": TENANT}
            )
        plans = {name: await scenarios(c) for name, c in clients.items()}
        rows = []
        for i, (label, _) in enumerate(plans["small"]):
            row: dict[str, Any] = {"scenario": label}
            timings = await measure(
                {name: plans[name][i][1] for name in ("small", "large")}, args.warmup, args.requests
            )
            for name, ms in timings.items():
                row[name] = {"p50_ms": statistics.median(ms), "p95_ms": pct(ms, 95)}
            row["ratio_p50"] = row["large"]["p50_ms"] / row["small"]["p50_ms"]
            row["ratio_p95"] = row["large"]["p95_ms"] / row["small"]["p95_ms"]
            rows.append(row)
            print(
                f"  {label}: {row['small']['p50_ms']:.1f} -> {row['large']['p50_ms']:.1f} ms p50",
                flush=True,
            )
        for c in clients.values():
            await c.aclose()
    finally:
        for container in containers:
            await container.close()
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            for name in [] if args.keep else names.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    if args.keep:
        print("kept databases:", ", ".join(names.values()))
    _print(rows, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"cost-growth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"python": sys.version, "small": vars(SMALL), "large": vars(LARGE), "results": rows},
            indent=2,
        )
    )
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0


def _print(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\np50 / p95 ms over {args.requests} sequential requests after {args.warmup} warm-up; "
        f"small {SMALL.total:,} messages (hot {SMALL.hot:,}), large {LARGE.total:,} (hot {LARGE.hot:,})"
    )
    head = f"| {'query':<44} | {'small':>13} | {'large':>13} | {'growth p50 / p95':>16} |"
    print(head + "\n|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        s, lg = r["small"], r["large"]
        flag = "" if max(r["ratio_p50"], r["ratio_p95"]) <= GOAL else " !"
        print(
            f"| {r['scenario']:<44} | {s['p50_ms']:5.1f} / {s['p95_ms']:5.1f} | "
            f"{lg['p50_ms']:5.1f} / {lg['p95_ms']:5.1f} | "
            f"{r['ratio_p50']:5.2f}x / {r['ratio_p95']:4.2f}x{flag:>2} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases (to EXPLAIN by hand); prints names"
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
