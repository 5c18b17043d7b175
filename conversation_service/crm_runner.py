"""The CRM sync runner: a background task that drains due `crm_sync` requests.

Started by `serve` (app lifespan, behind `CRM_SYNC_RUNNER`) and by `conversation-service worker`
(`start_crm_sync_runner(container)`). Safe with any number of processes on PostgreSQL (rows are
claimed with `FOR UPDATE SKIP LOCKED` under a lease); on SQLite one process writes at a time.
It wakes when this process queues a request and otherwise polls every `CRM_SYNC_POLL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from conversation_service.adapters.crm.errors import CrmCircuitOpen, CrmError
from conversation_service.adapters.crm.service import CrmService
from conversation_service.domain.clock import utcnow
from conversation_service.domain.conversations import get_conversation_or_none
from conversation_service.domain.crm_sync import (
    NO_CRM,
    RetryPolicy,
    build_push,
    claim_due,
    finish_claim,
)
from conversation_service.domain.ports import UnitOfWorkFactory
from conversation_service.domain.records import Claim, CrmSyncRecord, CrmSyncStatus
from conversation_service.observability.metrics import CRM_PUSH_SECONDS, CRM_PUSHES

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container

log = logging.getLogger("conversation_service.crm")
#: The tenant of the claim's unit of work: the claim reads due rows of every tenant (a value no
#: tenant id can take: tenant ids never contain `*`).
ANY_TENANT = "*"


async def process_claim(
    db: UnitOfWorkFactory, crm: CrmService, claim: Claim, policy: RetryPolicy
) -> CrmSyncRecord | None:
    """Push one claimed conversation and record the outcome (each step its own transaction:
    no database connection is held while the CRM answers)."""
    tenant = claim.tenant_id
    record = await db.query(tenant, get_conversation_or_none, claim.conversation_id)
    pair = crm.client_for(tenant)
    now = utcnow()

    async def _finish(
        claim: Claim, decide: Callable[[CrmSyncRecord], dict[str, Any]]
    ) -> CrmSyncRecord | None:
        return await db.run(tenant, finish_claim, claim, decide)

    def failed_without_attempt(error: str) -> Any:
        return lambda cur: {"status": CrmSyncStatus.FAILED.value, "error": error,
                            "next_attempt_at": None}  # fmt: skip

    if record is None:
        return await _finish(claim, failed_without_attempt("conversation not found"))
    if pair is None:
        return await _finish(claim, failed_without_attempt(NO_CRM))
    seq = record.last_seq

    def synced(crm_id: str | None, counted: bool) -> Any:
        def decide(cur: CrmSyncRecord) -> dict[str, Any]:
            done = (cur.requested_seq or 0) <= seq
            values: dict[str, Any] = {
                "last_synced_seq": max(seq, cur.last_synced_seq or 0),
                "status": (CrmSyncStatus.SYNCED if done else CrmSyncStatus.PENDING).value,
                "next_attempt_at": None if done else utcnow(),
                "error": None,
            }
            if counted:
                values["synced_at"] = utcnow()
                values["crm_id"] = crm_id
                values["attempts"] = cur.attempts + 1 if done else cur.attempts
            return values

        return decide

    if claim.last_synced_seq is not None and claim.last_synced_seq >= seq:
        return await _finish(claim, synced(None, counted=False))  # never push a seq twice
    config, client = pair
    push = build_push(record)
    started = time.perf_counter()
    try:
        crm_id = await asyncio.wait_for(client.push_conversation(push), config.timeout_s * 3)
    except CrmCircuitOpen as exc:
        CRM_PUSHES.labels("circuit_open").inc()
        wait = max(0.0, exc.retry_at - time.monotonic())
        message = exc.message
        return await _finish(
            claim,
            lambda cur: {"error": message, "next_attempt_at": now + timedelta(seconds=wait)},
        )
    except (CrmError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, CrmError) else "CRM push timed out"
        retryable = exc.retryable if isinstance(exc, CrmError) else True
    except Exception:
        log.exception("tenant %s: unexpected error pushing a conversation to the CRM",
                      claim.tenant_id)  # fmt: skip
        message, retryable = "unexpected error while pushing to the CRM", True
    else:
        crm.stats["pushes"] += 1
        CRM_PUSHES.labels("synced").inc()
        CRM_PUSH_SECONDS.observe(time.perf_counter() - started)
        return await _finish(claim, synced(crm_id, counted=True))

    crm.stats["push_errors"] += 1
    CRM_PUSHES.labels("failed").inc()
    CRM_PUSH_SECONDS.observe(time.perf_counter() - started)
    log.warning("tenant %s: CRM sync of %s failed: %s", claim.tenant_id, claim.conversation_id,
                message)  # fmt: skip

    def failure(cur: CrmSyncRecord) -> dict[str, Any]:
        attempts = cur.attempts + 1
        give_up = not retryable or attempts >= policy.max_attempts
        return {
            "attempts": attempts,
            "error": message,
            "status": (CrmSyncStatus.FAILED if give_up else CrmSyncStatus.PENDING).value,
            "next_attempt_at": None
            if give_up
            else utcnow() + timedelta(seconds=policy.delay(attempts)),
        }

    return await _finish(claim, failure)


async def run_due(db: UnitOfWorkFactory, crm: CrmService, policy: RetryPolicy, batch: int) -> int:
    """One pass: claim what is due and push it concurrently; returns how many were claimed."""
    claims = await db.run(ANY_TENANT, claim_due, batch, policy.lease_s)
    if claims:
        results = await asyncio.gather(
            *(process_claim(db, crm, c, policy) for c in claims), return_exceptions=True
        )
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # The lease expires and a later pass takes the row again.
                log.error("CRM sync of %s failed unexpectedly", claim.conversation_id,
                          exc_info=result)  # fmt: skip
    return len(claims)


class CrmSyncRunner:
    def __init__(
        self,
        db: UnitOfWorkFactory,
        crm: CrmService,
        policy: RetryPolicy,
        *,
        poll_s: float = 1.0,
        batch: int = 16,
    ) -> None:
        self.db = db
        self.crm = crm
        self.policy = policy
        self.poll_s = poll_s
        self.batch = batch
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> CrmSyncRunner:
        self._task = asyncio.create_task(self._run(), name="crm-sync-runner")
        return self

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self.crm.wake.clear()  # before the pass: a request queued during it wakes us again
            try:
                claimed = await run_due(self.db, self.crm, self.policy, self.batch)
            except Exception:
                log.exception("CRM sync pass failed; retrying after %ss", self.poll_s)
                claimed = 0
            self.passes += 1
            if claimed >= self.batch:
                continue  # more may be due right away
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await _first(self.crm.wake.wait(), self._stopping.wait())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def start_crm_sync_runner(container: Container, **overrides: Any) -> CrmSyncRunner:
    """Start the runner on the container's database and CRM; `await handle.stop()` to stop."""
    s = container.settings
    crm = container.crm
    options: dict[str, Any] = {"poll_s": s.crm_sync_poll_s, "batch": s.crm_sync_batch}
    options.update(overrides)
    policy = options.pop("policy", None) or RetryPolicy.from_settings(s)
    return CrmSyncRunner(container.db, crm, policy, **options).start()


async def start_configured_crm_sync_runner(container: Container) -> CrmSyncRunner | None:
    """Start the runner when this process should run one (a CRM is configured and
    CRM_SYNC_RUNNER is on); `serve` and `worker` both call this."""
    crm = container.crm
    if not container.settings.crm_sync_runner or not crm.directory.configured:
        return None
    return await start_crm_sync_runner(container)
