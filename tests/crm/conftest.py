"""CRM fixtures: one fake CRM server per run; per test a fresh token (= CRM account) and a
configuration entry for the test's tenant, removed afterwards."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conversation_service.adapters.crm import BreakerState, CircuitBreaker, CrmConfig, CrmService
from conversation_service.bootstrap import Container
from conversation_service.crm_runner import CrmSyncRunner, start_crm_sync_runner
from conversation_service.domain.crm_sync import RetryPolicy
from tests.crm.fake_crm import Account, FakeCrm, start_fake_crm

FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05, lease_s=30)


@pytest.fixture(scope="session")
async def fake_crm() -> AsyncIterator[FakeCrm]:
    fake, server, task = await start_fake_crm()
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


def breaker_state(breaker: CircuitBreaker) -> BreakerState:
    """The state read through a call: mypy would keep `breaker.state` narrowed by an earlier
    assert across the awaits that change it."""
    return breaker.state


def new_token() -> str:
    return "tok-" + secrets.token_hex(16)


def crm_config(fake: FakeCrm, token: str, key: str, **raw: Any) -> CrmConfig:
    body: dict[str, Any] = {"connector": "http", "base_url": fake.url, "token": token,
                            "timeout_s": 1, "enrich_timeout_s": 0.5}  # fmt: skip
    body.update(raw)
    return CrmConfig.parse(key, body)


@dataclass
class CrmTenant:
    tenant: str
    token: str
    account: Account
    crm: CrmService
    config: CrmConfig

    def reconfigure(self, fake: FakeCrm, **raw: Any) -> None:
        self.config = crm_config(fake, self.token, self.tenant, **raw)
        self.crm.directory.set(self.tenant, self.config)


@pytest.fixture
async def crm_tenant(
    container: Container, tenant: str, fake_crm: FakeCrm
) -> AsyncIterator[CrmTenant]:
    """The test's tenant, configured with the generic connector on its own fake CRM account."""
    assert container.crm is not None
    token = new_token()
    account = fake_crm.account(token)
    config = crm_config(fake_crm, token, tenant)
    container.crm.directory.set(tenant, config)
    try:
        yield CrmTenant(tenant, token, account, container.crm, config)
    finally:
        container.crm.directory.set(tenant, None)


StartRunner = Callable[..., Awaitable[CrmSyncRunner]]


@pytest.fixture
async def runner(container: Container) -> AsyncIterator[StartRunner]:
    started: list[CrmSyncRunner] = []

    async def start(**kw: Any) -> CrmSyncRunner:
        kw.setdefault("poll_s", 0.02)
        kw.setdefault("policy", FAST)
        r = await start_crm_sync_runner(container, **kw)
        started.append(r)
        return r

    try:
        yield start
    finally:
        for r in started:
            await r.stop()


async def wait_until(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Wait for a condition (checked every 20 ms) or fail after `within` seconds. The condition
    lives in the database or another component, so there is no event to wait on."""
    async with asyncio.timeout(within):
        while not await predicate():
            await asyncio.sleep(0.02)
