"""Worker process entry points (filled in by the action-worker issue)."""

from __future__ import annotations

from typing import Any

from conversation_service.config import Settings


class WorkerHandle:
    async def stop(self) -> None:
        return None


async def start_worker(container: Any) -> WorkerHandle:
    raise RuntimeError("the action worker is not available in this build")


async def run_worker(settings: Settings) -> None:
    raise RuntimeError("the action worker is not available in this build")
