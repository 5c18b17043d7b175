"""The retention runner: applies every tenant's retention policy in bounded batches.

Started by `conversation-service retention run` (once) and inside `conversation-service worker`
(every RETENTION_INTERVAL_S). One runner works at a time across processes: it holds the
`retention` lease (a row of `maintenance_leases` with an owner and an expiry, renewed between
batches); a runner that dies frees it when it expires (RETENTION_LEASE_S). The schedule is kept
by the lease row too: a worker starts a run only when the last complete run finished at least
an interval ago, so N workers run the policy once per interval, not N times.

Each batch (RETENTION_BATCH rows) is its own short transaction, and the runner pauses
RETENTION_PAUSE_MS between batches, so live writers wait at most one batch for a row lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conversation_service.config import Settings
from conversation_service.domain.clock import utcnow
from conversation_service.domain.ports import UnitOfWork, UnitOfWorkFactory
from conversation_service.domain.retention import (
    ARCHIVABLE,
    Due,
    Step,
    TenantRun,
    archive_idle_batch,
    count_due,
    delete_expired_state_batch,
    erase_expired_messages_batch,
    get_retention_policy,
    purge_audit_batch,
    record_run,
    retention_tenants,
)

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container

log = logging.getLogger("conversation_service.retention")

LEASE = "retention"
#: The unit of work of cross-tenant reads and of the lease (tenant ids never contain `*`).
ANY_TENANT = "*"


class LeaseHeld(Exception):
    """Another process is running retention now."""


class LeaseLost(Exception):
    """The lease expired and another process took it: this run stops at once."""


def owner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def _acquire(
    uow: UnitOfWork, owner: str, lease_s: float, ran_before: datetime | None
) -> bool:
    now = utcnow()
    return await uow.leases.acquire(LEASE, owner, now + timedelta(seconds=lease_s), now, ran_before)


async def _renew(uow: UnitOfWork, owner: str, lease_s: float) -> bool:
    return await uow.leases.renew(LEASE, owner, utcnow() + timedelta(seconds=lease_s))


async def _release(uow: UnitOfWork, owner: str, finished: bool) -> None:
    await uow.leases.release(LEASE, owner, utcnow() if finished else None)


async def lease_holder(uow: UnitOfWork) -> str | None:
    return await uow.leases.holder(LEASE, utcnow())


class Lease:
    """The `retention` lease of one runner; renewed at most every third of its length."""

    def __init__(self, db: UnitOfWorkFactory, lease_s: float, owner: str | None = None) -> None:
        self.db = db
        self.lease_s = lease_s
        self.owner = owner or owner_id()
        self._renewed = 0.0

    async def acquire(self, ran_before: datetime | None = None) -> bool:
        got = await self.db.run(ANY_TENANT, _acquire, self.owner, self.lease_s, ran_before)
        self._renewed = time.monotonic()
        return got

    async def keep(self) -> None:
        if time.monotonic() - self._renewed < self.lease_s / 3:
            return
        if not await self.db.run(ANY_TENANT, _renew, self.owner, self.lease_s):
            raise LeaseLost(f"the retention lease of {self.owner} was taken over")
        self._renewed = time.monotonic()

    async def release(self, finished: bool) -> None:
        await self.db.run(ANY_TENANT, _release, self.owner, finished)


@dataclass
class RunReport:
    now: datetime
    dry_run: bool
    tenants: list[TenantRun] = field(default_factory=list)
    due: dict[str, Due] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.archived + t.messages + t.state + (t.audit or 0) for t in self.tenants)


async def run_retention(
    db: UnitOfWorkFactory,
    settings: Settings,
    *,
    now: datetime | None = None,
    tenant: str | None = None,
    dry_run: bool = False,
    lease: Lease | None = None,
) -> RunReport:
    """One pass over every tenant (or one) as of `now` (default: the clock). With `lease`, the
    lease is renewed between batches and the run stops if it was lost."""
    started = time.perf_counter()
    now = now or utcnow()
    report = RunReport(now=now, dry_run=dry_run)
    batch = settings.retention_batch
    pause = settings.retention_pause_ms / 1000

    async def between() -> None:
        if lease is not None:
            await lease.keep()
        if pause:
            await asyncio.sleep(pause)

    async def drain(tenant_id: str, step: Callable[..., Awaitable[Step]], *args: Any) -> int:
        """Batches of one step until it says it is finished, each its own transaction."""
        total = 0
        while True:
            done = await db.run(tenant_id, step, *args)
            total += done.done
            await between()
            if not done.more:
                return total

    tenants = [tenant] if tenant is not None else await db.query(ANY_TENANT, retention_tenants)
    for t in tenants:
        t_started = time.perf_counter()
        policy = await db.query(t, get_retention_policy)
        cut = policy.cutoffs(now)
        run = TenantRun(t, policy, dry_run=dry_run)
        if dry_run:
            report.due[t] = await db.query(t, count_due, cut)
            report.tenants.append(run)
            continue
        for status in ARCHIVABLE:
            after: tuple[datetime, str] | None = None
            while True:
                step = await db.run(t, archive_idle_batch, status, cut.archive, after, batch)
                run.archived += step.done
                after = step.after
                await between()
                if not step.more:
                    break
        run.messages = await drain(t, erase_expired_messages_batch, cut.messages, batch)
        run.state = await drain(t, delete_expired_state_batch, cut.state, batch)
        run.audit = await drain(t, purge_audit_batch, cut.audit, batch)
        run.seconds = time.perf_counter() - t_started
        report.tenants.append(run)
        if run.archived or run.messages or run.state or run.audit:
            # audited when it changed something: an hourly pass over every tenant would
            # otherwise write one entry per tenant and hour
            await db.run(t, record_run, run)
            log.info(
                "retention of tenant %s: %d archived, %d messages erased, %d state entries "
                "and %d audit entries deleted in %.2fs",
                t, run.archived, run.messages, run.state, run.audit or 0, run.seconds,
            )  # fmt: skip
    report.seconds = time.perf_counter() - started
    return report


async def run_once(
    db: UnitOfWorkFactory,
    settings: Settings,
    *,
    now: datetime | None = None,
    tenant: str | None = None,
    dry_run: bool = False,
) -> RunReport:
    """`retention run`: under the lease (LeaseHeld when another process runs now); a dry run
    only reads and takes no lease."""
    if dry_run:
        return await run_retention(db, settings, now=now, tenant=tenant, dry_run=True)
    lease = Lease(db, settings.retention_lease_s)
    if not await lease.acquire():
        holder = await db.query(ANY_TENANT, lease_holder)
        raise LeaseHeld(f"retention is running in {holder or 'another process'}")
    finished = False
    try:
        report = await run_retention(db, settings, now=now, tenant=tenant, lease=lease)
        finished = tenant is None  # only a full pass resets the schedule
        return report
    finally:
        with contextlib.suppress(Exception):
            await lease.release(finished)


class RetentionScheduler:
    """Runs retention every `interval_s` in a worker, one runner across all processes."""

    def __init__(self, db: UnitOfWorkFactory, settings: Settings, owner: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.interval_s = settings.retention_interval_s
        self.lease = Lease(db, settings.retention_lease_s, owner)
        #: (monotonic start, monotonic end) of every run this scheduler made
        self.runs: list[tuple[float, float]] = []
        self.last: RunReport | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> RetentionScheduler:
        self._task = asyncio.create_task(self._loop(), name="retention-scheduler")
        return self

    async def tick(self) -> bool:
        """Run now if the lease is free and the last run is an interval old; True if it ran."""
        ran_before = utcnow() - timedelta(seconds=self.interval_s)
        if not await self.lease.acquire(ran_before):
            return False
        started = time.monotonic()
        finished = False
        try:
            self.last = await run_retention(self.db, self.settings, lease=self.lease)
            finished = True
        finally:
            self.runs.append((started, time.monotonic()))
            with contextlib.suppress(Exception):
                await self.lease.release(finished)
        return True

    async def _loop(self) -> None:
        """The first attempt waits one poll period (jittered, so workers started together do
        not race for the lease at once): a worker starting up serves its actions first."""
        poll = max(0.05, min(self.interval_s, self.settings.retention_lease_s))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll * random.uniform(0.5, 1.0)):
                await self._stopping.wait()
        while not self._stopping.is_set():
            try:
                await self.tick()
            except LeaseLost as exc:
                log.warning("%s; this run stopped", exc)
            except Exception:
                log.exception("retention run failed; retrying in %.0fs", poll)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def start_configured_retention(container: Container) -> RetentionScheduler | None:
    """The worker's schedule (off when RETENTION_INTERVAL_S is 0)."""
    if container.settings.retention_interval_s <= 0:
        return None
    return RetentionScheduler(container.db, container.settings).start()
