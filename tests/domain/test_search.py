import pytest

from conversation_service.adapters.database import Database
from conversation_service.config import Settings
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.conversations import count_conversations, list_conversations
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.pagination import ConversationPage
from conversation_service.domain.search import SearchQuery, count_search, search_messages
from tests.domain.helpers import add, conversation, msg


async def test_ranked_with_highlighted_snippets(db, tenant) -> None:
    cid = await conversation(db, tenant, agent_id="billing")
    once = await add(
        db, tenant, cid, msg("user", "My invoice from March looks wrong, can you check it?")
    )
    twice = await add(
        db, tenant, cid, msg("assistant", "Invoice 42: the invoice total was corrected.")
    )
    await add(db, tenant, cid, msg("user", "thanks, nothing else"))
    result = await db.query(tenant, search_messages, SearchQuery("invoice"))
    assert [h.message.id for h in result.hits] == [twice.id, once.id]
    assert result.hits[0].rank > result.hits[1].rank > 0
    assert "<b>Invoice</b>" in result.hits[0].snippet
    assert "<b>invoice</b>" in result.hits[1].snippet
    assert await db.query(tenant, count_search, SearchQuery("invoice")) == 2
    both = await db.query(
        tenant, search_messages, SearchQuery("invoice march")
    )  # all words must match
    assert [h.message.id for h in both.hits] == [once.id]


async def test_tenant_isolation_and_filters(db, tenant) -> None:
    other_tenant = "t-o-" + tenant
    mine = await conversation(db, tenant, agent_id="a1")
    mine2 = await conversation(db, tenant, agent_id="a2")
    theirs = await conversation(db, other_tenant, agent_id="a1")
    m1 = await add(db, tenant, mine, msg("user", "reembolso del pedido"))
    m2 = await add(db, tenant, mine2, msg("user", "otro reembolso"))
    await add(db, other_tenant, theirs, msg("user", "reembolso ajeno"))
    ids = lambda r: {h.message.id for h in r.hits}  # noqa: E731
    assert ids(await db.query(tenant, search_messages, SearchQuery("reembolso"))) == {m1.id, m2.id}
    assert ids(
        await db.query(tenant, search_messages, SearchQuery("reembolso", conversation_id=mine))
    ) == {m1.id}
    assert ids(
        await db.query(tenant, search_messages, SearchQuery("reembolso", agent_id="a2"))
    ) == {m2.id}
    assert ids(await db.query(tenant, search_messages, SearchQuery("ajeno"))) == set()
    late = SearchQuery("reembolso", from_date=m2.created_at)
    assert m2.id in ids(await db.query(tenant, search_messages, late))


async def test_keyset_pages_cover_every_match_once(db, tenant) -> None:
    cid = await conversation(db, tenant)
    for i in range(7):
        await add(db, tenant, cid, msg("user", "token " * (i % 3 + 1) + f"filler number{i}"))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await db.query(tenant, search_messages, SearchQuery("token"), first=3, after=after)
        seen.extend(h.message.id for h in page.hits)
        ranks = [h.rank for h in page.hits]
        assert ranks == sorted(ranks, reverse=True)
        pages += 1
        if not page.has_next:
            break
        after = page.hits[-1].cursor
    assert len(seen) == len(set(seen)) == 7
    assert pages == 3


async def test_query_input(db, tenant) -> None:
    with pytest.raises(ValidationFailed) as e:
        await db.query(tenant, search_messages, SearchQuery("   "))
    assert e.value.field == "query"
    # operators and quotes are plain text, never a syntax error
    cid = await conversation(db, tenant)
    await add(db, tenant, cid, msg("user", 'he said "NEAR" OR not'))
    assert len((await db.query(tenant, search_messages, SearchQuery('"near" OR (*'))).hits) == 1
    assert (await db.query(tenant, search_messages, SearchQuery("?!"))).hits == []
    with pytest.raises(ValidationFailed):
        await db.query(tenant, search_messages, SearchQuery("x"), after="nope")


async def test_conversation_metadata_containment(db, tenant) -> None:
    a = await conversation(
        db,
        tenant,
        metadata={"channel": "web", "vip": True, "lang": {"ui": "es"}, "n": 3, "tags": ["x", "y"]},
    )
    b = await conversation(db, tenant, metadata={"channel": "whatsapp", "vip": False})
    await conversation(db, "t-m-" + tenant, metadata={"channel": "web"})

    async def ids(meta) -> set[str]:
        q = ConversationQuery(metadata=meta)
        page = await db.query(tenant, list_conversations, q, ConversationPage(first=50))
        assert await db.query(tenant, count_conversations, ConversationQuery(metadata=meta)) == len(
            page.items
        )
        return {c.id for c in page.items}

    assert await ids({"channel": "web"}) == {a}
    assert await ids({"vip": False}) == {b}
    assert await ids({"lang": {"ui": "es"}}) == {a}
    assert await ids({"n": 3, "channel": "web"}) == {a}
    assert await ids({"tags": ["y"]}) == {a}
    assert await ids({"channel": "sms"}) == set()
    assert await ids({}) == {a, b}
    with pytest.raises(ValidationFailed):
        await ids({'we"ird': 1})


@pytest.mark.parametrize("container", ["postgresql"], indirect=True)
async def test_total_count_matches_what_can_be_paged(db, tenant) -> None:
    """PostgreSQL ranks the newest SEARCH_MAX_CANDIDATES matches; totalCount says the same."""
    c = await conversation(db, tenant)
    for i in range(4):
        await add(db, tenant, c, msg("user", f"capped word {i}"))
    capped = Database(db.engine, db.publisher, settings=Settings(search_max_candidates=3))
    assert await capped.query(tenant, count_search, SearchQuery("capped")) == 3
    seen, after = 0, None
    while True:
        page = await capped.query(
            tenant, search_messages, SearchQuery("capped"), first=2, after=after
        )
        seen += len(page.hits)
        if not page.has_next:
            break
        after = page.hits[-1].cursor
    assert seen == 3
