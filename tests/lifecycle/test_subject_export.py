"""`GET /api/v1/subjects/export` on both backends: every conversation, message and state entry
of the subject as NDJSON, nothing of anyone else's, admins only, audited."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from conversation_service.adapters.database import Database, SqlUnitOfWork
from conversation_service.bootstrap import Container
from conversation_service.domain.identity import Principal, Role
from conversation_service.web.app import create_app

EXPORT = "/api/v1/subjects/export"


class RecordingDatabase(Database):
    """The service's database, keeping the units of work it opened (to read their audit)."""

    opened: list[SqlUnitOfWork]

    def __call__(self, tenant_id: str, *, actor: str | None = None) -> SqlUnitOfWork:
        uow = super().__call__(tenant_id, actor=actor)
        self.opened.append(uow)
        return uow


@pytest.fixture
def recording(container: Container) -> RecordingDatabase:
    db = container.db
    rec = RecordingDatabase(
        db.engine,
        db.publisher,
        settings=db.settings,
        crm=db.crm,
        reactions=db.reactions,
        context_policy=db.context_policy,
    )
    rec.write_lock = db.write_lock  # one SQLite writer per process, shared with the fixtures
    rec.opened = []
    return rec


def _app(container: Container, db: Database, principal: Principal | None = None) -> Any:
    app = create_app(container=dataclasses.replace(container, db=db))
    if principal is None:
        return app

    async def with_principal(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["principal"] = principal
        await app(scope, receive, send)

    return with_principal


@pytest.fixture
async def http(
    container: Container, recording: RecordingDatabase
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(container, recording))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _seed(http: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    h = {"X-Tenant-ID": tenant}

    async def conversation(**body: Any) -> str:
        r = await http.post("/api/v1/conversations", json=body, headers=h)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    mine = await conversation(user_id="u-1", title="mine")
    by_mail = await conversation(user_id="u-2", customer_info={"email": "Ana@Example.com"})
    other = await conversation(user_id="u-3", customer_info={"email": "bob@example.com"})
    for cid, texts in ((mine, ["a", "b", "c"]), (by_mail, ["d"]), (other, ["secret"])):
        for t in texts:
            r = await http.post(
                f"/api/v1/conversations/{cid}/messages",
                json={"role": "user", "content": t},
                headers=h,
            )
            assert r.status_code == 201
        r = await http.post(
            f"/api/v1/conversations/{cid}/state", json={"key": "k", "value": {"of": cid}}, headers=h
        )
        assert r.status_code == 200, r.text
    # the same user id in another tenant is another subject
    await http.post(
        "/api/v1/conversations", json={"user_id": "u-1"}, headers={"X-Tenant-ID": tenant + "-x"}
    )
    return {"mine": mine, "by_mail": by_mail, "other": other}


def _lines(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in r.content.splitlines()]


async def test_export_by_user_id_holds_the_subject_and_nothing_else(
    http: httpx.AsyncClient, recording: RecordingDatabase, tenant: str
) -> None:
    ids = await _seed(http, tenant)
    recording.opened.clear()
    lines = _lines(
        await http.get(EXPORT, params={"user_id": "u-1"}, headers={"X-Tenant-ID": tenant})
    )
    assert [
        (x["type"], x["data"].get("content") or x["data"].get("key") or x["data"]["id"])
        for x in lines
    ] == [
        ("conversation", ids["mine"]),
        ("message", "a"),
        ("message", "b"),
        ("message", "c"),
        ("state", "k"),
    ]
    assert lines[0]["data"]["title"] == "mine"
    assert {x["data"]["conversation_id"] for x in lines} == {ids["mine"]}
    assert [x["data"]["seq"] for x in lines if x["type"] == "message"] == [1, 2, 3]
    audited = [e for uow in recording.opened for e in uow.audit_entries]
    assert audited == [("subject.export", "user:u-1")]


async def test_export_by_customer_email_any_case(http: httpx.AsyncClient, tenant: str) -> None:
    ids = await _seed(http, tenant)
    lines = _lines(
        await http.get(
            EXPORT, params={"customer_email": "ana@example.COM"}, headers={"X-Tenant-ID": tenant}
        )
    )
    assert [x["type"] for x in lines] == ["conversation", "message", "state"]
    assert lines[0]["data"]["id"] == ids["by_mail"]
    assert lines[1]["data"]["content"] == "d"
    assert b"secret" not in orjson.dumps(lines)


async def test_unknown_subject_is_an_empty_export(http: httpx.AsyncClient, tenant: str) -> None:
    r = await http.get(EXPORT, params={"user_id": "nobody"}, headers={"X-Tenant-ID": tenant})
    assert _lines(r) == []


@pytest.mark.parametrize(
    "params", [{}, {"user_id": "u-1", "customer_email": "a@b.c"}], ids=["neither", "both"]
)
async def test_neither_or_both_keys_is_400(
    http: httpx.AsyncClient, recording: RecordingDatabase, tenant: str, params: dict[str, str]
) -> None:
    r = await http.get(EXPORT, params=params, headers={"X-Tenant-ID": tenant})
    assert r.status_code == 400
    assert "user_id" in r.json()["detail"]
    assert [e for uow in recording.opened for e in uow.audit_entries] == []


async def test_malformed_email_is_422(http: httpx.AsyncClient, tenant: str) -> None:
    r = await http.get(
        EXPORT, params={"customer_email": "not-an-address"}, headers={"X-Tenant-ID": tenant}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "customer_email"


async def test_only_admins_export(
    container: Container, recording: RecordingDatabase, tenant: str
) -> None:
    writer = Principal(tenant, "key-1", frozenset({Role.WRITER}))
    transport = httpx.ASGITransport(app=_app(container, recording, writer))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get(EXPORT, params={"user_id": "u-1"}, headers={"X-Tenant-ID": tenant})
    assert r.status_code == 403
    assert [e for uow in recording.opened for e in uow.audit_entries] == []
    admin = Principal(tenant, "key-2", frozenset({Role.ADMIN}))
    transport = httpx.ASGITransport(app=_app(container, recording, admin))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get(EXPORT, params={"user_id": "u-1"}, headers={"X-Tenant-ID": tenant})
    assert r.status_code == 200
    actors = [uow.actor for uow in recording.opened if uow.audit_entries]
    assert actors == ["key-2"]
