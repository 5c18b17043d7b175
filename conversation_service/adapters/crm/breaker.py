"""A small async-friendly circuit breaker.

After `failure_threshold` consecutive failures the circuit opens and calls fail fast (no network)
for `reset_timeout_s`; then one trial call is let through (half-open): success closes the
circuit, failure opens it again. The clock is injectable so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from conversation_service.adapters.crm.errors import CrmCircuitOpen, CrmUnavailable

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.reset_timeout_s = reset_timeout_s
        self.clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.reset_timeout_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def retry_at(self) -> float:
        """Monotonic time at which a call may be tried again (now when closed)."""
        if self._opened_at is None:
            return self.clock()
        return self._opened_at + self.reset_timeout_s

    def _before(self) -> None:
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_running):
            raise CrmCircuitOpen(f"CRM circuit '{self.name}' is open", self.retry_at)
        if state is BreakerState.HALF_OPEN:
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self.clock()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn`; CrmUnavailable (timeouts, 5xx, refused connections) counts as a failure.

        Other outcomes (a 404, a rejected payload) prove the CRM is up and count as success.
        """
        self._before()
        try:
            result = await fn()
        except (CrmUnavailable, asyncio.CancelledError):
            # A cancelled call is a caller's timeout: the CRM did not answer in time.
            self.record_failure()
            raise
        except Exception:
            self.record_success()
            raise
        self.record_success()
        return result
