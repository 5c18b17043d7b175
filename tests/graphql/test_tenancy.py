"""Tenancy: the tenant header is required and validated; other tenants' objects do not exist."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from conversation_service.adapters.database import Database
from tests.conftest import GQL, error_codes
from tests.graphql.ops import (
    ADD,
    CREATE,
    GET,
    GET_STATE,
    LIST,
    MESSAGES,
    SET_STATE,
    UPDATE,
    add,
    create,
    set_state,
)
from tests.helpers import row_counts

ALL_OPS = [
    (GET, lambda cid: {"id": cid}),
    (LIST, lambda cid: {"first": 5}),
    (MESSAGES, lambda cid: {"cid": cid}),
    (GET_STATE, lambda cid: {"cid": cid, "key": "k"}),
    (CREATE, lambda cid: {"input": {}}),
    (UPDATE, lambda cid: {"id": cid, "input": {"title": "x"}}),
    (ADD, lambda cid: {"cid": cid, "input": {"role": "USER", "content": "x"}}),
    (SET_STATE, lambda cid: {"cid": cid, "input": {"key": "k", "value": 1}}),
]


@pytest.mark.parametrize(
    "bad_tenant", [None, "", "has space", "x" * 65, "semi;colon", "ñ".encode()]
)
@pytest.mark.parametrize(("doc", "variables"), ALL_OPS)
async def test_missing_or_malformed_tenant_is_unauthenticated(
    gql: GQL,
    bad_tenant: str | bytes | None,
    doc: str,
    variables: Callable[[str], dict[str, Any]],
) -> None:
    raw = await gql.as_tenant(None).raw(
        doc,
        variables(str(uuid.uuid4())),
        headers={} if bad_tenant is None else {"X-Tenant-ID": bad_tenant},
    )
    assert raw.status_code == 200
    body = raw.json()
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_well_formed_tenant_ids_are_accepted(gql: GQL) -> None:
    for tenant in ("a", "A-b_c.d:e", "x" * 64):
        assert error_codes(await gql.as_tenant(tenant)(LIST, {"first": 1})) == []


#: (the other tenant's client, its conversation, its message)
Foreign = tuple[GQL, dict[str, Any], dict[str, Any]]


@pytest.fixture
async def foreign(gql: GQL) -> Foreign:
    """A conversation with a message and state, owned by another tenant."""
    other = gql.as_tenant(f"other-{uuid.uuid4().hex[:8]}")
    conv = await create(other, title="secret", tags=["shared-tag"], userId="same-user")
    msg = await add(other, conv["id"], "secret message", clientMessageId="c1")
    await set_state(other, conv["id"], key="k", value="secret")
    return other, conv, msg


async def test_foreign_ids_are_not_found_everywhere(
    gql: GQL, db: Database, tenant: str, foreign: Foreign
) -> None:
    other, conv, _ = foreign
    cid = conv["id"]
    assert (await gql.ok(GET, {"id": cid}))["conversation"] is None
    for doc, variables in [
        (MESSAGES, {"cid": cid}),
        (GET_STATE, {"cid": cid, "key": "k"}),
        (UPDATE, {"id": cid, "input": {"title": "hijack"}}),
        (UPDATE, {"id": cid, "input": {"title": "hijack", "expectedVersion": 2}}),
        (ADD, {"cid": cid, "input": {"role": "USER", "content": "x"}}),
        (ADD, {"cid": cid, "input": {"role": "USER", "content": "x", "clientMessageId": "c1"}}),
        (SET_STATE, {"cid": cid, "input": {"key": "k", "value": 1}}),
        (SET_STATE, {"cid": cid, "input": {"key": "k", "value": None}}),
    ]:
        body = await gql(doc, variables)
        assert error_codes(body) == ["NOT_FOUND"], (doc, body)
        assert body["data"] is None or set(body["data"].values()) == {None}
    assert await row_counts(db, tenant) == {"conversations": 0, "messages": 0, "state": 0}
    # The owner's data is untouched.
    owner = (await other.ok(GET, {"id": cid}))["conversation"]
    assert (owner["title"], owner["messageCount"], owner["version"]) == ("secret", 1, 2)
    state = (await other.ok(GET_STATE, {"cid": cid, "key": "k"}))["conversationState"]
    assert (state["value"], state["version"]) == ("secret", 1)


async def test_lists_never_show_other_tenants(gql: GQL, tenant: str, foreign: Foreign) -> None:
    mine = await create(gql, tags=["shared-tag"], userId="same-user")
    for variables in (
        {"first": 100},
        {"page": 1, "pageSize": 100},
        {"filter": {"tags": ["shared-tag"]}, "first": 100},
        {"filter": {"anyTags": ["shared-tag"]}, "first": 100},
        {"filter": {"userId": "same-user"}, "first": 100},
    ):
        conns = (await gql.ok(LIST, variables))["conversations"]
        assert [n["id"] for n in conns["nodes"]] == [mine["id"]]
        assert {n["tenantId"] for n in conns["nodes"]} == {tenant}
        assert conns["totalCount"] == 1


async def test_foreign_cursor_leaks_nothing(gql: GQL, foreign: Foreign) -> None:
    other, _, _ = foreign
    cursor = (await other.ok(LIST, {"first": 1}))["conversations"]["pageInfo"]["endCursor"]
    assert cursor is not None
    conns = (await gql.ok(LIST, {"first": 10, "after": cursor}))["conversations"]
    assert conns["nodes"] == []


async def test_creating_a_foreign_id_makes_an_own_conversation(
    gql: GQL, tenant: str, foreign: Foreign
) -> None:
    other, conv, _ = foreign
    mine = await create(gql, id=conv["id"], title="mine")
    assert (mine["id"], mine["tenantId"], mine["title"], mine["messageCount"]) == (
        conv["id"],
        tenant,
        "mine",
        0,
    )
    assert (await other.ok(GET, {"id": conv["id"]}))["conversation"]["title"] == "secret"
    assert (await gql.ok(MESSAGES, {"cid": conv["id"]}))["messages"]["nodes"] == []
