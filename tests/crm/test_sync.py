"""Reliable sync on PostgreSQL and SQLite: persisted before attempted, retried through outages,
completed after a restart, exactly one accepted push per seq, visible as `crmSync`."""

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from conversation_service.bootstrap import Container, build_container
from conversation_service.crm_runner import ANY_TENANT, start_crm_sync_runner
from conversation_service.domain.crm_sync import (
    CrmSyncStatus,
    claim_due,
    get_crm_sync,
    request_crm_sync,
)
from conversation_service.models import crm_sync
from tests.conftest import GQL
from tests.crm.conftest import FAST, CrmTenant, StartRunner, wait_until
from tests.crm.fake_crm import FakeCrm

CREATE = (
    """mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }"""
)
ADD = """mutation($c: ID!, $t: String!) { addMessage(conversationId: $c, input: {role: USER, content: $t}) { seq } }"""
SYNC = """mutation($id: ID!) { syncConversationToCrm(id: $id) { status lastSyncedSeq syncedAt attempts error } }"""
STATE = """query($id: ID!) { conversation(id: $id) { crmSync { status lastSyncedSeq syncedAt attempts error } } }"""


async def conversation_with_messages(gql: GQL, n: int = 2, **input: Any) -> str:
    input.setdefault("crmReferences", {"customer_id": "c1"})
    cid: str = (await gql.ok(CREATE, {"input": input}))["createConversation"]["id"]
    for i in range(n):
        await gql.ok(ADD, {"c": cid, "t": f"m{i}"})
    return cid


async def sync_state(gql: GQL, cid: str) -> dict[str, Any]:
    state: dict[str, Any] = (await gql.ok(STATE, {"id": cid}))["conversation"]["crmSync"]
    return state


def status_is(gql: GQL, cid: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        current: str = (await sync_state(gql, cid))["status"]
        return current == status

    return check


def _pushes(outcome: str) -> float:
    from conversation_service.observability.metrics import REGISTRY

    return (
        REGISTRY.get_sample_value(
            "conversation_service_crm_sync_pushes_total", {"outcome": outcome}
        )
        or 0.0
    )


async def test_sync_queues_pushes_once_and_records(
    gql: GQL, crm_tenant: CrmTenant, runner: StartRunner
) -> None:
    synced_before = _pushes("synced")
    cid = await conversation_with_messages(gql, 2)
    assert (await sync_state(gql, cid))["status"] == "NONE"
    queued = (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]
    assert queued["status"] == "PENDING"
    assert queued["attempts"] == 0
    await runner()
    await wait_until(status_is(gql, cid, "SYNCED"))
    state = await sync_state(gql, cid)
    assert state["lastSyncedSeq"] == 2
    assert state["attempts"] == 1
    assert state["error"] is None
    assert state["syncedAt"] is not None
    acc = crm_tenant.account
    assert acc.pushed == {f"{cid}:2": 1}
    assert acc.bodies[f"{cid}:2"]["customer_id"] == "c1"
    # Asking again with nothing new pushes nothing; a new message is a new seq, pushed once.
    again = (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]
    assert again["status"] == "SYNCED"
    assert again["lastSyncedSeq"] == 2
    await gql.ok(ADD, {"c": cid, "t": "m3"})
    assert (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]["status"] == "PENDING"
    await wait_until(status_is(gql, cid, "SYNCED"))
    assert (await sync_state(gql, cid))["lastSyncedSeq"] == 3
    assert acc.pushed == {f"{cid}:2": 1, f"{cid}:3": 1}
    assert _pushes("synced") - synced_before >= 2  # counted on /metrics (other tests run too)


async def test_outage_is_retried_with_backoff_until_synced(
    gql: GQL, crm_tenant: CrmTenant, runner: StartRunner
) -> None:
    acc = crm_tenant.account
    acc.fail_next = 2  # the CRM is down for the first two pushes
    cid = await conversation_with_messages(gql, 1)
    await gql.ok(SYNC, {"id": cid})
    await runner()
    await wait_until(status_is(gql, cid, "SYNCED"))
    state = await sync_state(gql, cid)
    assert state["attempts"] == 3
    assert state["lastSyncedSeq"] == 1
    assert acc.failed_pushes == 2
    assert acc.pushed == {f"{cid}:1": 1}


async def test_gives_up_after_max_attempts_and_a_rejection_fails_at_once(
    gql: GQL, crm_tenant: CrmTenant, runner: StartRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acc = crm_tenant.account
    acc.mode = "fail"
    cid = await conversation_with_messages(gql, 1)
    await gql.ok(SYNC, {"id": cid})
    await runner()
    await wait_until(status_is(gql, cid, "FAILED"))
    state = await sync_state(gql, cid)
    assert state["attempts"] == FAST.max_attempts
    assert "HTTP 500" in state["error"]
    assert crm_tenant.token not in state["error"]
    assert acc.pushed == {}
    acc.mode = "reject"
    again = (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]
    assert again["status"] == "PENDING"
    assert again["attempts"] == 0
    await wait_until(status_is(gql, cid, "FAILED"))
    state = await sync_state(gql, cid)
    assert state["attempts"] == 1
    assert "HTTP 400" in state["error"]
    assert "CRM sync of" in caplog.text  # failures are logged...
    assert crm_tenant.token not in caplog.text  # ...without the token


async def test_persisted_request_survives_a_restart_and_a_crash_mid_push(
    container: Container, gql: GQL, crm_tenant: CrmTenant, fake_crm: FakeCrm, tmp_path: Path
) -> None:
    a = await conversation_with_messages(gql, 1)
    b = await conversation_with_messages(gql, 2)
    await gql.ok(SYNC, {"id": a})
    await gql.ok(SYNC, {"id": b})  # no runner in this "process": both stay PENDING
    assert (await sync_state(gql, a))["status"] == "PENDING"
    # `b` was claimed by a process that died mid-push (lease 0: expired at once)
    claims = await container.db.run(ANY_TENANT, claim_due, 100, lease_s=0)
    assert {c.conversation_id for c in claims} >= {b}
    # a new process: its own container, configured from CRM_CONFIG_FILE
    config = tmp_path / "crm.json"
    config.write_text(json.dumps({crm_tenant.tenant: {"connector": "http",
                      "base_url": fake_crm.url, "token": crm_tenant.token}}))  # fmt: skip
    fresh = await build_container(
        container.settings.with_(crm_config_file=str(config), crm_sync_poll_s=0.02)
    )
    try:
        handle = await start_crm_sync_runner(fresh, policy=FAST)
        try:
            await wait_until(status_is(gql, a, "SYNCED"))
            await wait_until(status_is(gql, b, "SYNCED"))
        finally:
            await handle.stop()
    finally:
        await fresh.close()
    assert crm_tenant.account.pushed == {f"{a}:1": 1, f"{b}:2": 1}


async def test_tenant_without_crm_gets_none_and_nothing_is_written(
    container: Container, gql: GQL
) -> None:
    cid = await conversation_with_messages(gql, 1)
    state = (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]
    assert state == {"status": "NONE", "lastSyncedSeq": None, "syncedAt": None, "attempts": 0,
                     "error": "no CRM configured"}  # fmt: skip
    async with container.db.read() as conn:
        rows = (
            await conn.execute(select(crm_sync).where(crm_sync.c.tenant_id == gql.tenant))
        ).all()
    assert rows == []
    body = await gql(SYNC, {"id": str(uuid.uuid4())})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql(SYNC, {"id": "nope"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_auto_sync_when_completed(
    gql: GQL, crm_tenant: CrmTenant, fake_crm: FakeCrm, runner: StartRunner
) -> None:
    crm_tenant.reconfigure(fake_crm, auto_sync_on_complete=True)
    cid = await conversation_with_messages(gql, 2)
    await gql.ok("""mutation($id: ID!) { updateConversation(id: $id, input: {title: "x"}) { id } }""",
                 {"id": cid})  # fmt: skip
    assert (await sync_state(gql, cid))["status"] == "NONE"
    await gql.ok(
        """mutation($id: ID!) { updateConversation(id: $id, input: {status: COMPLETED}) { id } }""",
        {"id": cid},
    )
    assert (await sync_state(gql, cid))["status"] == "PENDING"  # queued with the status change
    await runner()
    await wait_until(status_is(gql, cid, "SYNCED"))
    assert crm_tenant.account.bodies[f"{cid}:2"]["status"] == "completed"


async def test_worker_entry_point_joins_the_callers_transaction(
    container: Container, gql: GQL, crm_tenant: CrmTenant
) -> None:
    cid = await conversation_with_messages(gql, 1)
    async with container.db(crm_tenant.tenant) as uow:
        record = await request_crm_sync(uow, cid)
        await uow.commit()
    data = record.to_dict()
    assert orjson.loads(orjson.dumps(data))["status"] == "PENDING"
    assert data["conversation_id"] == cid
    assert data["requested_seq"] == 1
    assert (
        await container.db.query(crm_tenant.tenant, get_crm_sync, cid)
    ).status is CrmSyncStatus.PENDING


@pytest.mark.parametrize("container", ["postgresql"], indirect=True)
async def test_concurrent_runners_push_each_seq_once(
    container: Container, gql: GQL, crm_tenant: CrmTenant, runner: StartRunner
) -> None:
    ids = [await conversation_with_messages(gql, 1) for _ in range(12)]
    for cid in ids:
        await gql.ok(SYNC, {"id": cid})
    for _ in range(3):
        await runner(batch=2)

    async def all_synced() -> bool:
        states = [await sync_state(gql, cid) for cid in ids]
        return all(s["status"] == "SYNCED" for s in states)

    await wait_until(all_synced)
    assert crm_tenant.account.pushed == {f"{cid}:1": 1 for cid in ids}


@pytest.mark.parametrize("enabled", [True, False])
async def test_app_lifespan_runs_the_runner_behind_a_setting(
    container: Container, gql: GQL, crm_tenant: CrmTenant, enabled: bool
) -> None:
    from dataclasses import replace

    from conversation_service.web.app import create_app

    cid = await conversation_with_messages(gql, 1)
    c = replace(container, settings=container.settings.with_(crm_sync_runner=enabled))
    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        await gql.ok(SYNC, {"id": cid})  # wakes the app's runner at once
        if enabled:
            await wait_until(status_is(gql, cid, "SYNCED"))
    if not enabled:
        assert (await sync_state(gql, cid))["status"] == "PENDING"
        assert crm_tenant.account.pushed == {}
