"""POST /api/v1/conversations/{id}/state and GET .../state/{key}."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.rest.conftest import Rest, assert_422


async def test_write_and_read_state(rest: Rest) -> None:
    conv = await rest.create()
    path = f"/conversations/{conv['id']}/state"
    response = await rest.post(
        path, json={"key": "step", "value": {"n": 1}, "state_type": "context", "ttl_seconds": 3600}
    )
    assert response.status_code == 200, response.text
    written = response.json()
    assert set(written) == {
        "conversation_id", "key", "value", "state_type", "version", "expires_at", "updated_at"
    }  # fmt: skip
    assert (written["conversation_id"], written["key"], written["value"]) == (
        conv["id"],
        "step",
        {"n": 1},
    )
    assert (written["state_type"], written["version"]) == ("context", 1)
    assert written["expires_at"] is not None
    read = await rest.get(f"{path}/step")
    assert read.status_code == 200
    assert read.json() == written


async def test_legacy_names_compare_and_set_and_delete(rest: Rest) -> None:
    conv = await rest.create()
    path = f"/conversations/{conv['id']}/state"
    first = await rest.post(path, json={"state_key": "k", "state_value": 1, "expected_version": 0})
    assert first.status_code == 200
    assert first.json()["version"] == 1
    assert first.json()["state_type"] == "variable"
    again = await rest.post(path, json={"key": "k", "value": 2, "expected_version": 0})
    assert again.status_code == 409
    assert isinstance(again.json()["detail"], str)
    stale = await rest.post(path, json={"key": "k", "value": 2, "expected_version": 7})
    assert stale.status_code == 409
    second = await rest.post(path, json={"key": "k", "value": 2, "expected_version": 1})
    assert second.json()["version"] == 2
    assert (await rest.get(f"{path}/k")).json()["value"] == 2
    deleted = await rest.post(path, json={"key": "k", "value": None})
    assert deleted.status_code == 200
    assert deleted.json()["version"] == 3
    gone = await rest.get(f"{path}/k")
    assert gone.status_code == 404
    assert gone.json() == {"detail": "state key 'k' not found"}


async def test_state_404s(rest: Rest) -> None:
    conv = await rest.create()
    await rest.post(f"/conversations/{conv['id']}/state", json={"key": "k", "value": 1})
    other = rest.as_tenant(f"other-{uuid.uuid4().hex[:8]}")
    for client, cid in ((rest, str(uuid.uuid4())), (rest, "nope"), (other, conv["id"])):
        read = await client.get(f"/conversations/{cid}/state/k")
        assert read.status_code == 404, read.text
        write = await client.post(f"/conversations/{cid}/state", json={"key": "k", "value": 9})
        assert write.status_code == 404, write.text
    assert (await rest.get(f"/conversations/{conv['id']}/state/k")).json()["value"] == 1
    assert (await rest.get(f"/conversations/{conv['id']}/state/{'k' * 300}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"value": 1}, ["body", "key"]),
        ({"key": "k"}, ["body", "value"]),
        ({"key": "", "value": 1}, ["body", "key"]),
        ({"key": "k" * 256, "value": 1}, ["body", "key"]),
        ({"key": 3, "value": 1}, ["body", "key"]),
        ({"key": "k", "value": 1, "state_type": "VARIABLE"}, ["body", "state_type"]),
        ({"key": "k", "value": 1, "state_type": "session"}, ["body", "state_type"]),
        ({"key": "k", "value": 1, "ttl_seconds": 0}, ["body", "ttl_seconds"]),
        ({"key": "k", "value": 1, "ttl_seconds": 10**12}, ["body", "ttl_seconds"]),
        ({"key": "k", "value": 1, "ttl_seconds": "1h"}, ["body", "ttl_seconds"]),
        ({"key": "k", "value": 1, "expected_version": -1}, ["body", "expected_version"]),
        ({"key": "k", "value": "x" * 70_000}, ["body", "value"]),
    ],
)
async def test_write_state_rejects_bad_bodies(rest: Rest, body: Any, loc: list[str]) -> None:
    conv = await rest.create()
    assert_422(await rest.post(f"/conversations/{conv['id']}/state", json=body), loc)
