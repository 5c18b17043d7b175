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
from typing import Any

from conversation_service.adapters.crm.service import CrmService, crm_of
from conversation_service.domain.crm_sync import RetryPolicy, run_due

log = logging.getLogger("conversation_service.crm")


class CrmSyncRunner:
    def __init__(
        self,
        db: Any,
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


async def start_crm_sync_runner(container: Any, **overrides: Any) -> CrmSyncRunner:
    """Start the runner on the container's database and CRM; `await handle.stop()` to stop."""
    s = container.settings
    crm = getattr(container, "crm", None) or crm_of(container.db)
    options: dict[str, Any] = {"poll_s": s.crm_sync_poll_s, "batch": s.crm_sync_batch}
    options.update(overrides)
    policy = options.pop("policy", None) or RetryPolicy.from_settings(s)
    return CrmSyncRunner(container.db, crm, policy, **options).start()


async def start_configured_crm_sync_runner(container: Any) -> CrmSyncRunner | None:
    """Start the runner when this process should run one (a CRM is configured and
    CRM_SYNC_RUNNER is on); `serve` and `worker` both call this."""
    crm = getattr(container, "crm", None)
    if not container.settings.crm_sync_runner or crm is None or not crm.directory.configured:
        return None
    return await start_crm_sync_runner(container)
