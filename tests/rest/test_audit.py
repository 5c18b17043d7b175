"""Every REST write leaves exactly one audit entry, with the request's id; a rejected one none."""

from __future__ import annotations

from conversation_service.adapters.database import Database
from tests.helpers import audit_rows
from tests.rest.conftest import Rest


async def test_every_rest_write_leaves_exactly_one_entry(
    rest: Rest, db: Database, tenant: str
) -> None:
    created = await rest.post("/conversations", json={}, headers={"X-Request-ID": "rest-1"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    entries = await audit_rows(db, tenant)
    assert [(e.action, e.target_id, e.request_id, e.actor) for e in entries] == [
        ("conversation.create", cid, "rest-1", "anonymous")
    ]
    message = await rest.add(cid, content="hola")
    state = await rest.post(f"/conversations/{cid}/state", json={"key": "k", "value": 1})
    assert state.status_code in (200, 201), state.text
    rejected = await rest.post(
        f"/conversations/{cid}/state", json={"key": "k", "value": 2, "expected_version": 9}
    )
    assert rejected.status_code == 409, rejected.text
    assert [(e.action, e.target_id) for e in (await audit_rows(db, tenant))[1:]] == [
        ("message.add", message["id"]),
        ("state.set", f"{cid}/k"),
    ]
