"""Query limits benchmark, in-process on PostgreSQL: `python -m bench.limits_bench`.

* attacks: time until each abusive document is answered (refused, with the limits), and the
  longest the event loop stalled meanwhile (a 1 ms ticker beside the request; medians of
  `--repeats`, each a new document): 1,000 aliases of
  `searchMessages`, depth 50, a 100 KB junk document, 100 x 100 x 100 nested pages, and the
  most expensive document the token budget lets through (2,000 tokens of one repeated field);
* normal request: the 20 x 20 nested read through the ASGI app (median of `--runs`), which is
  what the limits cost a request that passes them (its parse and validation are cached).

Fresh database (`cs_bench_<random>`, dropped at the end); `BENCH_PG_DSN` names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx

from conversation_service.bootstrap import build_container
from conversation_service.config import Settings
from conversation_service.migrate import upgrade
from conversation_service.web.app import create_app

ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "bench"
NESTED = (
    "{ conversations(first: 20) { nodes { messages(first: 20) { nodes { seq role content } } } } }"
)
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _deep(depth: int) -> str:
    steps = ["messages(first: 1) {", "nodes {", "conversation {"]
    opened = f'conversation(id: "{UNKNOWN}") {{'
    for i in range(depth - 1):
        opened += " " + steps[i % 3]
    leaf = {0: "totalCount", 1: "seq", 2: "id"}[(depth - 2) % 3] if depth > 1 else "id"
    return "{ " + opened + " " + leaf + " }" * depth + " }"


ATTACKS: dict[str, str] = {
    "1,000 aliases of searchMessages": "{ "
    + " ".join(
        f'a{i}: searchMessages(query: "hello") {{ totalCount edges {{ node {{ seq }} }} }}'
        for i in range(1000)
    )
    + " }",
    "depth 50": _deep(50),
    "100 KB junk document": "{" + " a" * 50_000 + " }",
    "100 x 100 x 100 pages": "{ conversations(first: 100) { nodes { messages(first: 100) { nodes {"
    " conversation { messages(first: 100) { nodes { seq content } } } } } } } }",
    "2,000 tokens of one field": "{" + " __typename" * 1995 + " }",
}
#: a cached, trivial query: the stall the machine itself adds (scheduler noise)
BASELINE = "{ __typename }"


async def _ticker(stop: asyncio.Event, worst: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        worst[0] = max(worst[0], now - last - 0.001)
        last = now


async def _timed(client: httpx.AsyncClient, query: str, n: int = 0) -> tuple[float, float, str]:
    query = f"query Q{n} " + query  # a new document each time: nothing cached
    stop, worst = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(_ticker(stop, worst))
    await asyncio.sleep(0.005)
    t0 = time.perf_counter()
    r = await client.post("/graphql", json={"query": query}, headers={"Accept": "application/json"})
    elapsed = time.perf_counter() - t0
    stop.set()
    await ticker
    body = r.json()
    errors = body.get("errors") or []
    if errors:
        ext = errors[0].get("extensions", {})
        outcome = (
            f"{ext.get('code')} {ext.get('limit', '')}".strip() + f": {errors[0]['message'][:60]}"
        )
    else:
        outcome = f"answered, {len(r.content) / 1e6:.1f} MB"
    return elapsed * 1000, worst[0] * 1000, outcome


async def main(args: argparse.Namespace) -> None:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    container = await build_container(Settings(auth_mode="none", database_url=f"{base}/{name}"))
    try:
        await upgrade(container.db.engine)
        app = create_app(container=container)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"X-Tenant-ID": TENANT},
            timeout=120,
        ) as client:

            async def gql(query: str, variables: dict[str, Any] | None = None) -> Any:
                r = await client.post(
                    "/graphql", json={"query": query, "variables": variables or {}}
                )
                return r.json()["data"]

            for c in range(args.conversations):
                cid = (await gql('mutation { createConversation(input: {title: "b"}) { id } }'))[
                    "createConversation"
                ]["id"]
                for m in range(20):
                    await gql(
                        "mutation($c: ID!, $t: String!) { addMessage(conversationId: $c,"
                        " input: {role: USER, content: $t}) { seq } }",
                        {"c": cid, "t": f"hello message {c} {m}"},
                    )
            print("| document | time to answer | longest event-loop stall | answer |")
            print("|---|---|---|---|")
            attacks = {} if args.no_attacks else ATTACKS
            for label, query in {"baseline `{ __typename }`": BASELINE, **attacks}.items():
                runs = [await _timed(client, query, n) for n in range(args.repeats)]
                elapsed = statistics.median(r[0] for r in runs)
                stall = statistics.median(r[1] for r in runs)
                print(f"| {label} | {elapsed:.1f} ms | {stall:.1f} ms | {runs[0][2]} |")
            for _ in range(5):
                await gql(NESTED)
            samples, cpu = [], []
            for _ in range(args.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                await gql(NESTED)
                samples.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            print(
                f"\nnested 20 x 20 read: median {statistics.median(samples):.2f} ms "
                f"(CPU {statistics.median(cpu):.2f} ms), "
                f"p90 {statistics.quantiles(samples, n=10)[-1]:.2f} ms over {args.runs} runs"
            )
    finally:
        await container.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each attack (median)")
    parser.add_argument("--no-attacks", action="store_true", help="only the nested read")
    asyncio.run(main(parser.parse_args()))
