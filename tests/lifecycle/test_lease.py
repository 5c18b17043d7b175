"""One retention runner at a time across processes: the lease row, two schedulers on their own
engines (as two worker processes have), and the command line refusing while another runs."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conversation_service.adapters.database import Database, create_engine
from conversation_service.bootstrap import Container
from conversation_service.config import Settings
from conversation_service.domain import retention as domain
from conversation_service.domain.clock import utcnow
from conversation_service.domain.events import NullPublisher
from conversation_service.lifecycle_cli import parse_now
from conversation_service.migrate import upgrade
from conversation_service.retention_runner import (
    Lease,
    LeaseHeld,
    LeaseLost,
    RetentionScheduler,
    run_once,
    start_configured_retention,
)
from tests.conftest import _create_pg_database, _drop_pg_database, _unavailable, pg_url
from tests.lifecycle.helpers import seed


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: the lease row is global, and runs visit every tenant."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'lease.db'}"
        engine = create_engine(Settings(database_url=url))
        await upgrade(engine)
        await engine.dispose()
        yield url
        return
    try:
        name = await _create_pg_database()
    except OSError as exc:
        _unavailable("PostgreSQL", exc)
        raise
    url = pg_url(name)
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        await _drop_pg_database(name)


def process_db(url: str, **settings: object) -> Database:
    """What one process has: its own engine and pool."""
    s = Settings(database_url=url).with_(**settings)
    return Database(create_engine(s), NullPublisher(), settings=s)


async def test_the_lease_has_one_holder_and_expires(fresh_url: str) -> None:
    a_db, b_db = process_db(fresh_url), process_db(fresh_url)
    try:
        a, b = Lease(a_db, 30, "a"), Lease(b_db, 30, "b")
        assert await a.acquire()
        assert not await b.acquire()
        assert await a.acquire()  # the holder may take it again
        await a.release(finished=True)
        assert await b.acquire()
        # a run finished just now: a scheduled taker that wants an older last run waits
        await b.release(finished=True)
        assert not await a.acquire(ran_before=utcnow() - timedelta(hours=1))
        assert await a.acquire(ran_before=utcnow())
        await a.release(finished=False)
        # a holder that stops renewing loses the lease once it expires
        short = Lease(a_db, 0.2, "short")
        assert await short.acquire()
        assert not await b.acquire()
        async with asyncio.timeout(10):
            while not await b.acquire():
                await asyncio.sleep(0.05)
        short._renewed = 0.0  # due for renewal
        with pytest.raises(LeaseLost):
            await short.keep()
    finally:
        await a_db.dispose()
        await b_db.dispose()


async def test_two_workers_run_one_at_a_time(fresh_url: str, tenant: str) -> None:
    """Two schedulers on two engines, as two `worker` processes: their runs never overlap,
    and together they run about once per interval, not once per worker."""
    options = {"retention_interval_s": 0.3, "retention_pause_ms": 5, "retention_batch": 2}
    dbs = [process_db(fresh_url, **options) for _ in range(2)]
    try:
        for i in range(3):
            await seed(dbs[0], f"{tenant}-{i}", messages=3)
        schedulers = [
            RetentionScheduler(db, db.settings, f"worker-{i}") for i, db in enumerate(dbs)
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        for s in schedulers:
            s.start()
        async with asyncio.timeout(30):
            while sum(len(s.runs) for s in schedulers) < 5:
                await asyncio.sleep(0.05)
        for s in schedulers:
            await s.stop()
        elapsed = loop.time() - started
        runs = sorted(r for s in schedulers for r in s.runs)
        for (_, end), (start, _) in itertools.pairwise(runs):
            assert start >= end, runs  # never two at once
        assert len(runs) <= elapsed / 0.3 + 2, (len(runs), elapsed)
        assert all(s.last is None or s.last.tenants for s in schedulers)
    finally:
        for db in dbs:
            await db.dispose()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "conversation_service", "retention", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fresh_url", ["sqlite"], indirect=True)
async def test_command_line_runs_dry_runs_and_refuses_while_held(
    fresh_url: str, tenant: str
) -> None:
    """On SQLite only: the command is the same code on both (run_once, tested on both above and
    in test_retention), and each start of the command costs seconds on a loaded machine."""
    db = process_db(fresh_url)
    try:
        await db.run(tenant, domain.set_retention_policy, domain.RetentionChanges(messages_days=2))
        s = await seed(db, tenant, messages=2)
        now = (s.messages[-1].created_at + timedelta(days=2, seconds=1)).isoformat()
        done = await asyncio.to_thread(
            cli, fresh_url, "--now", now, "--tenant", tenant, "--dry-run"
        )
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert lines[0]["tenant"] == tenant
        assert lines[0]["due"]["messages"] == 2
        assert lines[0]["policy"]["messagesDays"] == 2
        assert lines[-1]["summary"]["dryRun"] is True

        holder = Lease(db, 60, "someone-else")
        assert await holder.acquire()
        done = await asyncio.to_thread(cli, fresh_url, "--now", now, "--tenant", tenant)
        assert done.returncode == 3, (done.stdout, done.stderr)
        assert "someone-else" in done.stderr
        with pytest.raises(LeaseHeld):
            await run_once(db, db.settings, tenant=tenant)
        await holder.release(finished=False)

        done = await asyncio.to_thread(cli, fresh_url, "--now", now, "--tenant", tenant)
        assert done.returncode == 0, done.stderr
        line = json.loads(done.stdout.splitlines()[0])
        assert line["messagesErased"] == 2
    finally:
        await db.dispose()


async def test_the_worker_schedule_is_off_at_interval_zero(container: Container) -> None:
    off = dataclasses.replace(container, settings=container.settings.with_(retention_interval_s=0))
    assert start_configured_retention(off) is None
    on = start_configured_retention(container)
    assert on is not None
    await on.stop()


def test_now_must_be_an_instant_with_an_offset() -> None:
    assert parse_now("2026-01-31T00:00:00Z") == datetime(2026, 1, 31, tzinfo=UTC)
    for bad in ("yesterday", "2026-01-31T00:00:00"):
        with pytest.raises(SystemExit, match="--now"):
            parse_now(bad)
