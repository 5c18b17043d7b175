"""Erasure on both backends: nothing of the subject is left in any table or index, tombstones
keep history gapless, a second erasure is a no-op with the same receipt, later writes are
unaffected, subscribers see each erased message, and only admins may erase."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from conversation_service.adapters.events import channel
from conversation_service.bootstrap import Container
from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import messages as msg_domain
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.commands import NewConversation, NewMessage
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.erasure import ErasureSubject, erase_subject
from conversation_service.domain.feeds import erased_feed
from conversation_service.domain.identity import Principal, Role
from conversation_service.domain.records import MessageRecord
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from tests.conftest import GQL, error_codes
from tests.lifecycle.helpers import conversation, seed, stored_messages, stored_usage, tenant_rows

ERASE = """mutation($i: EraseSubjectInput!) { eraseSubject(input: $i) {
  id at conversations messages stateEntries sources subject } }"""
RECEIPT = "query($id: ID!) { erasureReceipt(id: $id) { id at conversations messages stateEntries sources subject } }"
SEARCH = "query($q: String!) { searchMessages(query: $q) { totalCount } }"
BY_SOURCE = "query($d: String!) { messagesBySource(documentId: $d) { totalCount } }"


async def test_erasure_by_user_leaves_no_trace_and_keeps_tombstones(
    container: Container, gql: GQL, tenant: str
) -> None:
    db = container.db
    user = f"user-{tenant}"
    mine = [await seed(db, tenant, user_id=user, messages=4) for _ in range(2)]
    other = await seed(db, tenant, user_id="someone-else", messages=2)
    before_other = await tenant_rows(db, tenant)
    assert all(s.marker in before_other for s in mine)

    receipt = (await gql.ok(ERASE, {"i": {"userId": user}}))["eraseSubject"]
    assert receipt["conversations"] == 2
    assert receipt["messages"] == 8
    assert receipt["stateEntries"] == 2
    assert receipt["sources"] == 8
    assert receipt["subject"] == {
        "userId": user, "customerEmailSha256": None, "conversationIds": []
    }  # fmt: skip

    rows = await tenant_rows(db, tenant)
    for s in mine:
        assert s.marker not in rows  # content, metadata, title, sources, state, FTS, ledger
        assert (await gql.ok(SEARCH, {"q": s.marker}))["searchMessages"]["totalCount"] == 0
        assert (await gql.ok(BY_SOURCE, {"d": s.document_id}))["messagesBySource"][
            "totalCount"
        ] == 0
        stored = await stored_messages(db, tenant, s.conversation_id)
        assert [m.seq for m in stored] == [1, 2, 3, 4]
        assert [m.id for m in stored] == [m.id for m in s.messages]
        assert all(m.erased and m.content == "" for m in stored)
        conv = await conversation(db, tenant, s.conversation_id)
        assert (conv.user_id, conv.title, conv.customer_info) == (None, None, None)
        assert (conv.metadata, conv.participants, conv.crm_references) == ({}, [], {})
        assert (conv.message_count, conv.last_seq) == (4, 4)
        assert conv.total_tokens == stored_usage(stored) == 0
    assert user not in rows
    # the other user's conversation is intact
    assert other.marker in rows
    assert (await gql.ok(SEARCH, {"q": other.marker}))["searchMessages"]["totalCount"] == 2

    # the receipt is kept and re-read
    again = (await gql.ok(RECEIPT, {"id": receipt["id"]}))["erasureReceipt"]
    assert again == receipt
    assert (await gql.ok(RECEIPT, {"id": "not-a-receipt"}))["erasureReceipt"] is None
    other_tenant = gql.as_tenant(f"{tenant}-x")
    assert (await other_tenant.ok(RECEIPT, {"id": receipt["id"]}))["erasureReceipt"] is None

    # a second erasure is a no-op: the same receipt, nothing written
    versions = [(await conversation(db, tenant, s.conversation_id)).version for s in mine]
    second = (await gql.ok(ERASE, {"i": {"userId": user}}))["eraseSubject"]
    assert second == receipt
    assert [(await conversation(db, tenant, s.conversation_id)).version for s in mine] == versions
    assert await tenant_rows(db, tenant) == rows


async def test_messages_written_after_an_erasure_are_unaffected(
    container: Container, gql: GQL, tenant: str
) -> None:
    db = container.db
    user = f"u-{tenant}"
    s = await seed(db, tenant, user_id=user, messages=2)
    first = await db.run(tenant, erase_subject, ErasureSubject(user_id=user))
    assert first.messages == 2
    added = await db.run(
        tenant,
        msg_domain.add_message,
        s.conversation_id,
        NewMessage(role=MessageRole.USER, content="written after the erasure"),
    )
    assert added.message.seq == 3
    new_conv, _ = await db.run(
        tenant,
        conv_domain.create_conversation,
        NewConversation(
            user_id=user,
            initial_messages=[NewMessage(role=MessageRole.USER, content="a new conversation")],
        ),
    )
    stored = await stored_messages(db, tenant, s.conversation_id)
    assert [(m.seq, m.erased, m.content) for m in stored] == [
        (1, True, ""), (2, True, ""), (3, False, "written after the erasure"),
    ]  # fmt: skip
    conv = await conversation(db, tenant, s.conversation_id)
    assert conv.total_tokens == stored_usage(stored)
    fresh = await stored_messages(db, tenant, new_conv.id)
    assert [m.content for m in fresh] == ["a new conversation"]
    # the first receipt stays as it was; erasing the user again now erases the new data only
    third = await db.run(tenant, erase_subject, ErasureSubject(user_id=user))
    assert third.id != first.id
    assert (third.conversations, third.messages) == (1, 1)  # the new conversation, its message
    receipt = (await gql.ok(RECEIPT, {"id": first.id}))["erasureReceipt"]
    assert (receipt["messages"], receipt["conversations"]) == (2, 1)


async def test_erasure_by_email_any_case_and_by_ids(
    container: Container, gql: GQL, tenant: str
) -> None:
    db = container.db
    by_mail = await seed(db, tenant, email="Ana.Perez@Example.com", messages=2)
    by_id = await seed(db, tenant, messages=3)
    kept = await seed(db, tenant, email="someone@example.com", messages=1)
    receipt = (await gql.ok(ERASE, {"i": {"customerEmail": " ana.perez@EXAMPLE.com "}}))[
        "eraseSubject"
    ]
    assert (receipt["conversations"], receipt["messages"]) == (1, 2)
    subject = receipt["subject"]
    assert subject["customerEmailSha256"] is not None
    assert len(subject["customerEmailSha256"]) == 64
    rows = await tenant_rows(db, tenant)
    assert "ana.perez" not in rows.lower()
    assert by_mail.marker not in rows
    assert kept.marker in rows
    body = await gql.ok(ERASE, {"i": {"conversationIds": [by_id.conversation_id]}})
    assert (body["eraseSubject"]["conversations"], body["eraseSubject"]["messages"]) == (1, 3)
    assert by_id.marker not in await tenant_rows(db, tenant)
    # the same ids again: nothing left, the same receipt
    again = await gql.ok(ERASE, {"i": {"conversationIds": [by_id.conversation_id]}})
    assert again["eraseSubject"] == body["eraseSubject"]


async def test_a_subject_without_data_gets_a_zero_receipt(gql: GQL, tenant: str) -> None:
    receipt = (await gql.ok(ERASE, {"i": {"userId": "nobody"}}))["eraseSubject"]
    counts = [receipt[k] for k in ("conversations", "messages", "stateEntries", "sources")]
    assert counts == [0, 0, 0, 0]
    assert (await gql.ok(ERASE, {"i": {"userId": "nobody"}}))["eraseSubject"] == receipt


async def test_bad_subjects_are_bad_user_input(gql: GQL) -> None:
    bad: dict[str, Any]
    for bad in (
        {},
        {"customerEmail": "not-an-address"},
        {"conversationIds": ["not-a-uuid"]},
        {"conversationIds": []},
    ):
        body = await gql(ERASE, {"i": bad})
        assert error_codes(body) == ["BAD_USER_INPUT"], (bad, body)


async def test_only_admins_erase_and_read_lifecycle_settings(
    container: Container, tenant: str
) -> None:
    writer = Principal(tenant, "key:w", frozenset({Role.WRITER}))
    admin = Principal(tenant, "key:a", frozenset({Role.ADMIN}))
    documents = [
        'mutation { eraseSubject(input: {userId: "u"}) { id } }',
        "{ retentionPolicy { messagesDays } }",
        "mutation { setRetentionPolicy(input: {messagesDays: 3}) { messagesDays } }",
        '{ erasureReceipt(id: "00000000-0000-0000-0000-000000000000") { id } }',
    ]
    for document in documents:
        ctx = GraphQLContext(container=container, raw_tenant_id=tenant, principal=writer)
        result = await schema.execute(document, context_value=ctx)
        assert result.errors is not None, document
        assert (result.errors[0].extensions or {}).get("code") == "FORBIDDEN", result.errors
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant, principal=admin)
    result = await schema.execute(documents[0], context_value=ctx)
    assert result.errors is None, result.errors
    found = await container.db.query(tenant, _receipt_actor)
    assert found == ["key:a"]


async def _receipt_actor(uow: Any) -> list[str | None]:
    from sqlalchemy import text

    conn = await uow.connection()
    rows = await conn.execute(
        text("SELECT actor FROM erasure_receipts WHERE tenant_id = :t"), {"t": uow.tenant_id}
    )
    return [r[0] for r in rows]


async def test_subscribers_see_each_erased_message(container: Container, tenant: str) -> None:
    db = container.db
    user = f"u-{tenant}"
    s = await seed(db, tenant, user_id=user, messages=3)
    got: list[MessageRecord] = []
    per_conversation: list[MessageRecord] = []

    async def collect(feed: Any, into: list[MessageRecord], n: int) -> None:
        async with contextlib.aclosing(feed) as records:
            async for record in records:
                into.append(record)
                if len(into) == n:
                    return

    tenant_wide = erased_feed(container.db, container.broadcast, tenant, agent_id="agent-1")
    one = erased_feed(container.db, container.broadcast, tenant, conversation_id=s.conversation_id)
    tasks = [
        asyncio.create_task(collect(tenant_wide, got, 3)),
        asyncio.create_task(collect(one, per_conversation, 3)),
    ]
    hub = container.broadcast.hub
    wanted = [
        channel(tenant, "message_erased"),
        channel(tenant, "message_erased", s.conversation_id),
    ]
    async with asyncio.timeout(10):
        while not all(hub.has_subscribers(c) for c in wanted):
            await asyncio.sleep(0.01)
    await db.run(tenant, erase_subject, ErasureSubject(user_id=user))
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    for records in (got, per_conversation):
        assert [(m.id, m.seq, m.erased, m.content) for m in records] == [
            (m.id, m.seq, True, "") for m in s.messages
        ]


async def test_message_erased_over_graphql(container: Container, tenant: str) -> None:
    """The subscription field itself (the WebSocket transport opens the same feed)."""
    db = container.db
    s = await seed(db, tenant, user_id="sub-user", messages=2)
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant)
    document = (
        "subscription($c: ID!) { messageErased(conversationId: $c) "
        "{ id seq erased content metadata sources { documentId } conversation { id } } }"
    )
    stream = await schema.subscribe(
        document, variable_values={"c": s.conversation_id}, context_value=ctx
    )
    assert hasattr(stream, "__aiter__")
    hub = container.broadcast.hub
    wanted = channel(tenant, "message_erased", s.conversation_id)

    async def first_two() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for result in stream:
            assert result.errors is None, result.errors
            assert result.data is not None
            out.append(result.data["messageErased"])
            if len(out) == 2:
                break
        return out

    task = asyncio.create_task(first_two())
    async with asyncio.timeout(10):
        while not hub.has_subscribers(wanted):
            await asyncio.sleep(0.01)
    await db.run(tenant, erase_subject, ErasureSubject(conversation_ids=[s.conversation_id]))
    got = await asyncio.wait_for(task, 10)
    assert [(g["seq"], g["erased"], g["content"], g["metadata"], g["sources"]) for g in got] == [
        (1, True, "", {}, []),
        (2, True, "", {}, []),
    ]
    assert {g["conversation"]["id"] for g in got} == {s.conversation_id}


async def test_erasure_removes_the_analysis_of_each_message(
    container: Container, tenant: str
) -> None:
    """The analysis describes the content (entities may quote it): a tombstone has none."""
    db = container.db
    user = f"an-{tenant}"
    s = await seed(db, tenant, user_id=user, messages=1)
    analysed = await db.run(
        tenant,
        msg_domain.add_message,
        s.conversation_id,
        NewMessage(
            role=MessageRole.USER,
            content=f"order {s.marker}",
            analysis=MessageAnalysis(0.5, "order_status", [{"type": "order", "id": s.marker}]),
        ),
    )
    assert analysed.message.analysis is not None
    await db.run(tenant, erase_subject, ErasureSubject(user_id=user))
    stored = await stored_messages(db, tenant, s.conversation_id)
    assert [(m.erased, m.analysis) for m in stored] == [(True, None), (True, None)]
    assert s.marker not in await tenant_rows(db, tenant)
