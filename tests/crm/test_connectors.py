"""Both connectors against the real fake CRM server: happy paths, 404, 500, slow, garbage,
and the token kept out of every error and log line."""

import logging
from datetime import UTC, datetime

import pytest

from conversation_service.adapters.crm import (
    CrmBadResponse,
    CrmConversation,
    CrmError,
    CrmRejected,
    CrmUnavailable,
    make_client,
)
from tests.crm.conftest import crm_config, new_token
from tests.crm.fake_crm import FakeCrm

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def conversation(
    customer_id: str | None = None, email: str | None = None, seq: int = 3
) -> CrmConversation:
    return CrmConversation(
        conversation_id="7f1c3c1e-4b8a-4d53-9a51-3f8f3f6f2d10", tenant_id="t1",
        customer_id=customer_id, customer_email=email, status="completed", summary="Refund asked",
        message_count=3, total_tokens=42, last_seq=seq, started_at=NOW, last_message_at=NOW,
        tags=["support"], metadata={"k": 1},
    )  # fmt: skip


async def test_generic_connector_lookups_field_map_and_push(fake_crm: FakeCrm) -> None:
    token = new_token()
    acc = fake_crm.account(token)
    acc.customers["c1"] = {"id": "c1", "name": "Ana", "customer_email": "ana@x.io"}
    client = make_client(crm_config(fake_crm, token, "t1", field_map={"email": "customer_email"}))
    try:
        by_id = await client.get_customer_by_id("c1")
        assert by_id == {"id": "c1", "name": "Ana", "email": "ana@x.io"}  # theirs -> ours
        assert await client.get_customer_by_email("ana@x.io") == by_id
        assert await client.get_customer_by_id("nope") is None
        assert await client.get_customer_by_email("nobody@x.io") is None
        crm_id = await client.push_conversation(conversation("c1", "ana@x.io"))
        key = "7f1c3c1e-4b8a-4d53-9a51-3f8f3f6f2d10:3"
        assert crm_id == f"crm-{key}"
        assert acc.pushed[key] == 1
        body = acc.bodies[key]
        assert body["customer_email"] == "ana@x.io"
        assert "email" not in body
        assert body["last_seq"] == 3
        assert body["summary"] == "Refund asked"
        assert body["started_at"] == NOW.isoformat()
        assert body["tenant_id"] == "t1"
    finally:
        await client.aclose()


async def test_hubspot_contact_lookup_and_note_on_the_contact(fake_crm: FakeCrm) -> None:
    token = new_token()
    acc = fake_crm.account(token)
    acc.customers["501"] = {"id": "501", "email": "bo@x.io", "firstname": "Bo", "lastname": "Li"}
    client = make_client(crm_config(fake_crm, token, "t1", connector="hubspot"))
    try:
        c = await client.get_customer_by_id("501")
        assert c is not None
        assert c["id"] == "501"
        assert c["name"] == "Bo Li"
        assert (await client.get_customer_by_email("bo@x.io")) == c
        assert await client.get_customer_by_email("no@x.io") is None
        assert await client.get_customer_by_id("999") is None
        # no customer id: the contact is found by e-mail, then the note is associated to it
        note = await client.push_conversation(conversation(None, "bo@x.io", seq=7))
        key = "7f1c3c1e-4b8a-4d53-9a51-3f8f3f6f2d10:7"
        assert note == f"note-{key}"
        assert acc.pushed[key] == 1
        body = acc.bodies[key]
        assert body["associations"][0]["to"]["id"] == "501"
        assert "Refund asked" in body["properties"]["hs_note_body"]
        assert "Tokens: 42" in body["properties"]["hs_note_body"]
        with pytest.raises(CrmRejected):
            await client.push_conversation(conversation(None, "ghost@x.io"))
    finally:
        await client.aclose()


@pytest.mark.parametrize("connector", ["http", "hubspot"])
async def test_failures_are_typed_and_never_show_the_token(
    fake_crm: FakeCrm, caplog: pytest.LogCaptureFixture, connector: str
) -> None:
    caplog.set_level(logging.DEBUG)
    token = new_token()
    acc = fake_crm.account(token)
    acc.customers["1"] = {"id": "1", "email": "a@x.io"}
    client = make_client(crm_config(fake_crm, token, "t1", connector=connector, timeout_s=0.2,
                                    breaker_failures=100))  # fmt: skip
    errors: list[CrmError] = []
    try:
        for mode, expected in [("fail", CrmUnavailable), ("slow", CrmUnavailable),
                               ("malformed", CrmBadResponse), ("reject", CrmRejected)]:  # fmt: skip
            acc.mode, acc.delay_s = mode, 1.0
            with pytest.raises(expected) as info:
                await client.get_customer_by_id("1")
            errors.append(info.value)
            with pytest.raises(CrmError) as info2:
                await client.push_conversation(conversation("1"))
            errors.append(info2.value)
        assert "timed out" in str(errors[2])
        wrong = make_client(crm_config(fake_crm, "wrong-" + token, "t1", connector=connector))
        with pytest.raises(CrmRejected) as info3:
            await wrong.get_customer_by_id("1")  # 401
        errors.append(info3.value)
        await wrong.aclose()
    finally:
        await client.aclose()
    for e in errors:
        assert token not in str(e)
        assert token not in repr(e)
        assert (e.__cause__ is None and e.__context__ is None) or token not in str(e.__context__)
    assert token not in caplog.text
