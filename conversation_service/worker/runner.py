"""Worker entry points: in-process next to `serve --with-worker`, or `conversation-service worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.crm_runner import start_configured_crm_sync_runner
from conversation_service.observability.metrics import serve_worker_metrics
from conversation_service.retention_runner import start_configured_retention
from conversation_service.runtime import tune_gc
from conversation_service.worker.consumer import Worker
from conversation_service.worker.registry import Registry

log = logging.getLogger(__name__)


class WorkerHandle:
    def __init__(self, worker: Worker | None) -> None:
        self.worker = worker

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


async def start_worker(container: Container, registry: Registry | None = None) -> WorkerHandle:
    """Start consuming in this process; without Redis there are no action streams to read."""
    if container.redis is None:
        log.warning("REDIS_URL is not set: the action worker does not run")
        return WorkerHandle(None)
    worker = Worker(
        container.db, container.redis, container.settings, registry, tracing=container.tracing
    )
    await worker.start()
    log.info(
        "action worker %s consuming %s (group %s)",
        worker.consumer,
        ", ".join(worker.names.streams),
        worker.names.group,
    )
    return WorkerHandle(worker)


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then finish in-flight work (see Worker.stop)."""

    if not settings.redis_url:
        raise SystemExit("conversation-service worker needs REDIS_URL")
    container = await build_container(settings)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    crm_runner = None
    retention = None
    try:
        handle = await start_worker(container)
        crm_runner = await start_configured_crm_sync_runner(container)
        retention = start_configured_retention(container)
        assert handle.worker is not None
        if settings.worker_metrics_port:
            serve_worker_metrics(handle.worker, settings.worker_metrics_port, settings.host)
        died = asyncio.create_task(handle.worker.wait_closed())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({died, stopped}, return_when=asyncio.FIRST_COMPLETED)
        died.cancel()
        stopped.cancel()
        log.info("action worker stopping")
        await handle.stop()
    finally:
        if retention is not None:
            await retention.stop()
        if crm_runner is not None:
            await crm_runner.stop()
        await container.close()
