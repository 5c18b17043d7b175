import pytest

from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.sources import messages_by_source
from tests.domain.helpers import add, conversation, msg


def src(doc: str, **kw) -> dict:
    return {"document_id": doc, **kw}


async def test_sources_stored_and_found_both_ways(db, tenant) -> None:
    cid = await conversation(db, tenant)
    q = await add(db, tenant, cid, msg("user", "what is the refund policy?"))
    a = await add(
        db,
        tenant,
        cid,
        msg(
            "assistant",
            "30 days.",
            sources=[
                src(
                    "doc-1",
                    title="Refunds",
                    url="https://x/1",
                    snippet="30 days",
                    score=0.91,
                    metadata={"page": 3},
                ),
                src("doc-2", score=0.5),
                src("doc-1", snippet="again"),  # cited twice: listed once by document
            ],
        ),
    )
    assert [s["document_id"] for s in a.sources] == ["doc-1", "doc-2", "doc-1"]
    assert a.sources[0]["metadata"] == {"page": 3}
    assert a.sources[0]["score"] == 0.91
    other = await conversation(db, tenant)
    b = await add(db, tenant, other, msg("assistant", "see doc", sources=[src("doc-1")]))
    found = await db.query(tenant, messages_by_source, "doc-1")
    assert [m.id for m in found.items] == [a.id, b.id]
    assert found.total == 2
    assert not found.has_next
    assert [m.id for m in (await db.query(tenant, messages_by_source, "doc-2")).items] == [a.id]
    assert (await db.query(tenant, messages_by_source, "doc-3")).items == []
    assert q.sources == []
    # another tenant sees nothing
    assert (await db.query("t-other-" + tenant, messages_by_source, "doc-1")).total == 0


async def test_messages_by_source_keyset_pages(db, tenant) -> None:
    cid = await conversation(db, tenant)
    ids = [
        (await add(db, tenant, cid, msg("assistant", f"a{i}", sources=[src("d")]))).id
        for i in range(5)
    ]
    first = await db.query(tenant, messages_by_source, "d", first=2)
    assert [m.id for m in first.items] == ids[:2]
    assert first.has_next
    assert first.total == 5
    from conversation_service.domain.sources import source_cursor

    second = await db.query(
        tenant, messages_by_source, "d", first=2, after=source_cursor(first.items[-1])
    )
    assert [m.id for m in second.items] == ids[2:4]
    assert second.has_next
    assert second.has_previous
    last = await db.query(
        tenant, messages_by_source, "d", first=2, after=source_cursor(second.items[-1])
    )
    assert [m.id for m in last.items] == ids[4:]
    assert not last.has_next
    with pytest.raises(ValidationFailed):
        await db.query(tenant, messages_by_source, "d", after="garbage!")


async def test_a_bad_source_writes_nothing(db, tenant) -> None:
    cid = await conversation(db, tenant)
    with pytest.raises(ValidationFailed) as e:
        await add(db, tenant, cid, msg("assistant", "x", sources=[src("d", score="high")]))
    assert e.value.field == "sources.score"
    with pytest.raises(ValidationFailed):
        await add(db, tenant, cid, msg("assistant", "x", sources=[{"title": "no id"}]))
    assert (await db.query(tenant, messages_by_source, "d")).total == 0
