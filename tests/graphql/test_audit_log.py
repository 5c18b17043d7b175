"""The audit log through GraphQL: every mutation leaves exactly one entry, in its own transaction
(a failed or rolled-back write leaves none), read back by `auditLog` newest first with keyset
pages that cover every entry once, filtered by action, actor and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from conversation_service.adapters.database import Database
from conversation_service.bootstrap import Container
from conversation_service.domain.commands import NewConversation
from conversation_service.domain.conversations import create_conversation
from conversation_service.domain.errors import Forbidden
from conversation_service.domain.identity import Principal, Role
from conversation_service.resolvers.audit import audit_log
from conversation_service.resolvers.context import GraphQLContext
from tests.conftest import GQL, error_codes
from tests.graphql.ops import ADD, CREATE, SET_STATE, UPDATE
from tests.helpers import audit_rows

AUDIT = """query($first: Int, $after: String, $action: String, $actor: String,
                 $from: DateTime, $to: DateTime) {
  auditLog(first: $first, after: $after, action: $action, actor: $actor,
           fromDate: $from, toDate: $to) {
    nodes { id at tenantId actor action targetId requestId }
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""


async def _entries_of(
    gql: GQL, db: Database, tenant: str, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    before = len(await audit_rows(db, tenant))
    data = await gql.ok(query, variables)
    return data, (await audit_rows(db, tenant))[before:]


async def test_every_mutation_leaves_exactly_one_entry(gql: GQL, db: Database, tenant: str) -> None:
    data, new = await _entries_of(gql, db, tenant, CREATE, {"input": {"title": "a"}})
    cid = data["createConversation"]["id"]
    assert [(e.action, e.target_id, e.actor) for e in new] == [
        ("conversation.create", cid, "anonymous")
    ]
    data, new = await _entries_of(gql, db, tenant, UPDATE, {"id": cid, "input": {"title": "b"}})
    assert [(e.action, e.target_id) for e in new] == [("conversation.update", cid)]
    data, new = await _entries_of(
        gql, db, tenant, ADD, {"cid": cid, "input": {"role": "USER", "content": "hi"}}
    )
    assert [(e.action, e.target_id) for e in new] == [("message.add", data["addMessage"]["id"])]
    data, new = await _entries_of(
        gql, db, tenant, SET_STATE, {"cid": cid, "input": {"key": "k", "value": 1}}
    )
    assert [(e.action, e.target_id) for e in new] == [("state.set", f"{cid}/k")]
    data, new = await _entries_of(
        gql, db, tenant, SET_STATE, {"cid": cid, "input": {"key": "k", "value": None}}
    )
    assert [(e.action, e.target_id) for e in new] == [("state.delete", f"{cid}/k")]
    # a replayed add (same clientMessageId) and deleting what is not there change nothing
    again = {"cid": cid, "input": {"role": "USER", "content": "x", "clientMessageId": "m-1"}}
    await gql.ok(ADD, again)
    _, new = await _entries_of(gql, db, tenant, ADD, again)
    assert new == []
    _, new = await _entries_of(
        gql, db, tenant, SET_STATE, {"cid": cid, "input": {"key": "never", "value": None}}
    )
    assert new == []


async def test_the_entry_carries_the_request_id(gql: GQL, db: Database, tenant: str) -> None:
    response = await gql.raw(
        CREATE, {"input": {"title": "r"}}, headers={"X-Request-ID": "req-audit-1"}
    )
    assert response.status_code == 200, response.text
    (entry,) = await audit_rows(db, tenant)
    assert entry.request_id == "req-audit-1"
    assert entry.tenant_id == tenant


async def test_a_failed_write_leaves_no_entry(gql: GQL, db: Database, tenant: str) -> None:
    cid = (await gql.ok(CREATE, {"input": {}}))["createConversation"]["id"]
    before = await audit_rows(db, tenant)
    body = await gql(UPDATE, {"id": cid, "input": {"title": "x", "expectedVersion": 99}})
    assert error_codes(body) == ["CONFLICT"]
    assert await audit_rows(db, tenant) == before


async def test_a_rollback_leaves_no_entry_and_a_commit_one(db: Database, tenant: str) -> None:
    async def door_fails() -> None:
        async with db(tenant) as uow:
            await create_conversation(uow, NewConversation(title="dropped"))
            assert [a for a, _ in uow.audit_entries] == ["conversation.create"]
            raise RuntimeError("the door fails before committing")

    with pytest.raises(RuntimeError):
        await door_fails()
    assert await audit_rows(db, tenant) == []
    async with db(tenant, actor="key:abc") as uow:
        record, _ = await create_conversation(uow, NewConversation(title="kept"))
        await uow.commit()
    assert [(e.action, e.target_id, e.actor) for e in await audit_rows(db, tenant)] == [
        ("conversation.create", record.id, "key:abc")
    ]


async def test_keyset_pages_cover_every_entry_once_newest_first(
    gql: GQL, db: Database, tenant: str
) -> None:
    cid = (await gql.ok(CREATE, {"input": {}}))["createConversation"]["id"]
    for i in range(11):
        await gql.ok(ADD, {"cid": cid, "input": {"role": "USER", "content": f"m{i}"}})
    stored = await audit_rows(db, tenant)
    assert len(stored) == 12
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.ok(AUDIT, {"first": 5, "after": after}))["auditLog"]
        assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
        seen.extend(page["nodes"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["id"] for n in seen] == [e.id for e in reversed(stored)]
    assert {n["tenantId"] for n in seen} == {tenant}
    assert seen[-1]["action"] == "conversation.create"
    # filters: by action, by actor, by time
    adds = (await gql.ok(AUDIT, {"action": "message.add", "first": 100}))["auditLog"]["nodes"]
    assert len(adds) == 11
    nobody = (await gql.ok(AUDIT, {"actor": "someone-else"}))["auditLog"]["nodes"]
    assert nobody == []
    newest = datetime.fromisoformat(seen[0]["at"])
    tail = (await gql.ok(AUDIT, {"from": newest.isoformat()}))["auditLog"]["nodes"]
    assert [n["id"] for n in tail] == [seen[0]["id"]]
    early = (newest - timedelta(days=1)).isoformat()
    assert (await gql.ok(AUDIT, {"to": early}))["auditLog"]["nodes"] == []


async def test_another_tenant_sees_none_of_the_entries(gql: GQL, tenant: str) -> None:
    await gql.ok(CREATE, {"input": {}})
    other = gql.as_tenant(f"{tenant}-other")
    assert (await other.ok(AUDIT, {}))["auditLog"]["nodes"] == []


async def test_bad_arguments_are_typed_errors(gql: GQL) -> None:
    for variables, field in (
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"after": "nonsense"}, "after"),
        ({"from": datetime.now(UTC).isoformat(), "to": "2000-01-01T00:00:00Z"}, "fromDate"),
    ):
        body = await gql(AUDIT, variables)
        assert error_codes(body) == ["BAD_USER_INPUT"], (variables, body)
        assert body["errors"][0]["extensions"].get("field") == field


async def test_only_admins_read_the_audit_log(container: Container, tenant: str) -> None:
    """The resolver asks for the admin role (under AUTH_MODE=none every caller holds it)."""
    for roles, allowed in (({Role.WRITER}, False), ({Role.READER}, False), ({Role.ADMIN}, True)):
        principal = Principal(tenant, "key:k", frozenset(roles))
        info: Any = SimpleNamespace(context=GraphQLContext(container, tenant, principal=principal))
        if allowed:
            assert (await audit_log(info)).nodes == []
        else:
            with pytest.raises(Forbidden):
                await audit_log(info)
