"""What authentication costs per request (`python -m bench.auth_bench`, or `make bench`).

The same request, a read of one conversation by id (one primary-key read: the cheapest
request, so the per-request cost of authentication is the largest share of it), against the
same database and the same `serve` build three ways: `AUTH_MODE=none` (X-Tenant-ID only), an
API key (`Authorization: Bearer cs_...`, cached lookup), and an HS256 JWT. Reports req/s and
p50/p95 per way and the ratios to `none`, medians over `--repeats` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt

from bench.loadgen import Scenario, run_in_process
from bench.run import ROOT, bench_database, server
from conversation_service.bootstrap import build_container
from conversation_service.config import Settings

TENANT = "bench-auth"
SECRET = "bench-secret-of-at-least-thirty-two-bytes"
QUERY = 'query One { conversation(id: "%s") { id title status } }'


def _request(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /graphql HTTP/1.1",
        "Host: bench",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _key(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "conversation_service",
            "keys",
            "create",
            "--tenant",
            TENANT,
            "--role",
            "reader",
            "--name",
            "bench",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.auth_bench")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, float]] = {}
    errors = 0
    with bench_database() as url:
        with server(url) as srv:  # AUTH_MODE=none
            created = httpx.post(
                f"{srv.base_url}/graphql",
                json={"query": 'mutation C { createConversation(input: {title: "t"}) { id } }'},
                headers={"X-Tenant-ID": TENANT},
                timeout=30,
            ).json()
            cid = created["data"]["createConversation"]["id"]
            body = json.dumps({"query": QUERY % cid}).encode()
            ways: dict[str, dict[str, str]] = {"none": {"X-Tenant-ID": TENANT}}
            rows["none"], e = _measure(srv, "auth.none", body, ways["none"], args)
            errors += e
        key = _key(url)
        token = jwt.encode(
            {
                "sub": "bench",
                "tenant_id": TENANT,
                "roles": ["reader"],
                "exp": int(time.time()) + 3600,
            },
            SECRET,
            algorithm="HS256",
        )
        with server(url, {"AUTH_MODE": "required", "JWT_SECRET": SECRET}) as srv:
            for name, headers in (
                ("api_key", {"Authorization": f"Bearer {key}"}),
                ("jwt", {"Authorization": f"Bearer {token}"}),
            ):
                rows[name], e = _measure(srv, f"auth.{name}", body, headers, args)
                errors += e
    base = rows["none"]
    print(
        f"\n{'way':<10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'req/s vs none':>14} {'p50 vs none':>12}"
    )
    for name, r in rows.items():
        print(
            f"{name:<10} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
            f"{r['rps'] / base['rps']:>14.3f} {r['p50_ms'] / base['p50_ms']:>12.3f}"
        )
    for name in ("api_key", "jwt"):
        per_request_us = (1 / rows[name]["rps"] - 1 / base["rps"]) * 1e6 * args.clients
        print(
            f"{name}: ~{per_request_us:.0f} us of server time per request over none (at {args.clients} clients)"
        )
    return 1 if errors else 0


async def _in_process(url: str, key: str, n: int = 5000) -> dict[str, float]:
    """Microseconds per `Authenticator.principal` call: a cached API key, a JWT seen before
    (remembered until it expires) and a JWT never seen (signature checked)."""
    settings = Settings(database_url=url, auth_mode="required", jwt_secret=SECRET)
    container = await build_container(settings)
    auth = container.auth
    exp = int(time.time()) + 3600
    fresh = [
        jwt.encode({"sub": f"s{i}", "tenant_id": TENANT, "roles": ["reader"], "exp": exp}, SECRET)
        for i in range(n)
    ]
    out: dict[str, float] = {}
    try:
        for name, tokens in (
            ("api key (cached row)", [key] * n),
            ("JWT seen before", [fresh[0]] * n),
            ("JWT never seen (HS256 verify)", fresh),
        ):
            rounds = []
            for _ in range(5):
                if name.startswith("JWT never"):
                    assert auth.jwt is not None
                    auth.jwt._cache.clear()
                t0 = time.perf_counter()
                for token in tokens:
                    await auth.principal(
                        authorization=[f"Bearer {token}"], api_key=[], tenant=[TENANT]
                    )
                rounds.append((time.perf_counter() - t0) / len(tokens) * 1e6)
            out[name] = statistics.median(rounds)
    finally:
        await container.close()
    return out


def _measure(
    srv: Any, name: str, body: bytes, headers: dict[str, str], args: argparse.Namespace
) -> tuple[dict[str, float], int]:
    scenario = Scenario(name, [_request(body, headers)], args.clients, args.duration)
    runs = [run_in_process(srv.host, srv.port, scenario) for _ in range(args.repeats)]
    row = {k: float(statistics.median(r[k] for r in runs)) for k in ("rps", "p50_ms", "p95_ms")}
    failed = sum(int(r["errors"]) for r in runs)
    print(
        f"  {name}: {row['rps']:.0f} req/s p50 {row['p50_ms']:.2f} ms ({failed} errors)", flush=True
    )
    if failed:
        print(f"  samples: {[e for r in runs for e in r['error_samples']][:3]}")
    return row, failed


if __name__ == "__main__":
    raise SystemExit(main())
