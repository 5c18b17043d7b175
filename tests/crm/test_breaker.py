import pytest

from conversation_service.adapters.crm import (
    BreakerState,
    CircuitBreaker,
    CrmCircuitOpen,
    CrmRejected,
    CrmUnavailable,
)
from tests.crm.conftest import breaker_state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _ok() -> str:
    return "ok"


async def _down() -> str:
    raise CrmUnavailable("down")


async def _rejected() -> str:
    raise CrmRejected("400")


async def test_opens_after_threshold_fails_fast_and_recovers() -> None:
    clock = Clock()
    b = CircuitBreaker("t", failure_threshold=3, reset_timeout_s=10, clock=clock)
    for _ in range(3):
        with pytest.raises(CrmUnavailable):
            await b.call(_down)
    assert breaker_state(b) is BreakerState.OPEN
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(CrmCircuitOpen) as info:
        await b.call(counted)
    assert calls == 0
    assert info.value.retry_at == 110.0
    clock.now = 110.0
    assert breaker_state(b) is BreakerState.HALF_OPEN
    assert await b.call(counted) == "ok"
    assert calls == 1
    assert breaker_state(b) is BreakerState.CLOSED


async def test_failed_trial_reopens_and_rejections_do_not_count() -> None:
    clock = Clock()
    b = CircuitBreaker("t", failure_threshold=2, reset_timeout_s=5, clock=clock)
    for _ in range(5):
        with pytest.raises(CrmRejected):
            await b.call(_rejected)  # the CRM answered: it is up
    assert breaker_state(b) is BreakerState.CLOSED
    for _ in range(2):
        with pytest.raises(CrmUnavailable):
            await b.call(_down)
    clock.now += 5
    with pytest.raises(CrmUnavailable):
        await b.call(_down)  # the half-open trial fails
    assert breaker_state(b) is BreakerState.OPEN
    with pytest.raises(CrmCircuitOpen):
        await b.call(_ok)
    clock.now += 5
    assert await b.call(_ok) == "ok"
