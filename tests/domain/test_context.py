import pytest

from conversation_service.domain.context import ContextPolicy, build_context
from conversation_service.domain.errors import NotFound, ValidationFailed
from tests.domain.helpers import add, conversation, msg

CALL = [{"id": "call_1", "name": "lookup", "arguments": "{}"}]


def seqs(ctx) -> list[int]:
    return [m.seq for m in ctx.messages]


async def test_empty_conversation(db, tenant) -> None:
    cid = await conversation(db, tenant)
    ctx = await db.query(tenant, build_context, cid, max_tokens=100)
    assert (ctx.messages, ctx.total_tokens, ctx.truncated, ctx.omitted_messages) == (
        [],
        0,
        False,
        0,
    )
    assert ctx.oversized_message_ids == []
    assert ctx.conversation_id == cid


async def test_max_messages_keeps_the_newest(db, tenant) -> None:
    cid = await conversation(db, tenant, *[msg("user", f"m{i}", tokens=1) for i in range(10)])
    ctx = await db.query(tenant, build_context, cid, max_messages=3)
    assert seqs(ctx) == [8, 9, 10]
    assert (ctx.total_tokens, ctx.truncated, ctx.omitted_messages) == (3, True, 7)


async def test_token_budget_and_the_tighter_limit_wins(db, tenant) -> None:
    cid = await conversation(db, tenant, *[msg("user", tokens=5) for _ in range(6)])
    ctx = await db.query(tenant, build_context, cid, max_tokens=12, max_messages=5)
    assert seqs(ctx) == [5, 6]
    assert ctx.total_tokens == 10
    assert ctx.omitted_messages == 4
    ctx = await db.query(tenant, build_context, cid, max_tokens=100, max_messages=4)
    assert seqs(ctx) == [3, 4, 5, 6]
    assert ctx.total_tokens == 20
    ctx = await db.query(tenant, build_context, cid, max_tokens=30, max_messages=50)
    assert seqs(ctx) == [1, 2, 3, 4, 5, 6]
    assert not ctx.truncated
    assert ctx.omitted_messages == 0


async def test_never_skips_a_message_to_fit_an_older_one(db, tenant) -> None:
    cid = await conversation(
        db,
        tenant,
        msg("user", tokens=1),
        msg("user", tokens=1),
        msg("user", tokens=9),
        msg("user", tokens=2),
    )
    ctx = await db.query(tenant, build_context, cid, max_tokens=10, max_messages=10)
    assert seqs(ctx) == [4]  # seq 3 does not fit after seq 4; seqs 1-2 would but are not taken
    assert ctx.total_tokens == 2
    assert ctx.omitted_messages == 3
    assert ctx.oversized_message_ids == []


async def test_huge_newest_message_ends_the_context_and_is_reported(db, tenant) -> None:
    cid = await conversation(db, tenant, msg("system", tokens=5), msg("user", tokens=3))
    huge = await add(db, tenant, cid, msg("user", "big", tokens=1000))
    ctx = await db.query(tenant, build_context, cid, max_tokens=100, max_messages=10)
    assert seqs(ctx) == [1]  # the pinned system message only
    assert ctx.oversized_message_ids == [huge.id]
    assert (ctx.total_tokens, ctx.truncated, ctx.omitted_messages) == (5, True, 2)


async def test_tool_call_and_its_answers_go_in_whole_or_not_at_all(db, tenant) -> None:
    cid = await conversation(
        db,
        tenant,
        msg("user", tokens=5),
        msg("assistant", tokens=5, tool_calls=CALL),
        msg("tool", tokens=5, tool_call_id="call_1"),
        msg("tool", tokens=5, tool_call_id="call_1"),
        msg("assistant", tokens=5),
    )
    ctx = await db.query(tenant, build_context, cid, max_tokens=15, max_messages=10)
    assert seqs(ctx) == [5]
    assert ctx.omitted_messages == 4
    ctx = await db.query(tenant, build_context, cid, max_tokens=20, max_messages=10)
    assert seqs(ctx) == [2, 3, 4, 5]
    assert ctx.total_tokens == 20
    ctx = await db.query(tenant, build_context, cid, max_tokens=100, max_messages=3)
    assert seqs(ctx) == [5]
    ctx = await db.query(tenant, build_context, cid, max_tokens=100, max_messages=4)
    assert seqs(ctx) == [2, 3, 4, 5]


async def test_newest_tool_unit_too_big_is_reported_whole(db, tenant) -> None:
    cid = await conversation(
        db,
        tenant,
        msg("user", tokens=1),
        msg("assistant", tokens=30, tool_calls=CALL),
        msg("tool", tokens=30, tool_call_id="call_1"),
    )
    ctx = await db.query(tenant, build_context, cid, max_tokens=50, max_messages=10)
    assert ctx.messages == []
    assert len(ctx.oversized_message_ids) == 2
    assert ctx.truncated
    assert ctx.omitted_messages == 3


async def test_system_messages_are_pinned_and_not_counted_in_max_messages(db, tenant) -> None:
    cid = await conversation(
        db, tenant, msg("system", tokens=10), *[msg("user", tokens=5) for _ in range(10)]
    )
    ctx = await db.query(tenant, build_context, cid, max_tokens=30, max_messages=10)
    assert seqs(ctx) == [1, 8, 9, 10, 11]
    assert ctx.total_tokens == 30
    ctx = await db.query(tenant, build_context, cid, max_tokens=1000, max_messages=2)
    assert seqs(ctx) == [1, 10, 11]
    assert ctx.omitted_messages == 8
    ctx = await db.query(
        tenant, build_context, cid, max_tokens=30, max_messages=10, include_system=False
    )
    assert seqs(ctx) == [6, 7, 8, 9, 10, 11]
    assert ctx.total_tokens == 30
    ctx = await db.query(tenant, build_context, cid, max_tokens=100, max_messages=0)
    assert seqs(ctx) == [1]
    assert ctx.omitted_messages == 10


async def test_system_messages_in_the_middle_are_skipped_by_the_walk(db, tenant) -> None:
    # 120 messages, every third a system message: the walk spans several seq pages.
    history = [msg("system" if i % 3 == 0 else "user", f"m{i}", tokens=1) for i in range(100)]
    cid = await conversation(db, tenant, *history)
    for i in range(20):
        await add(db, tenant, cid, msg("system" if i % 3 == 0 else "user", f"n{i}", tokens=1))
    ctx = await db.query(tenant, build_context, cid, max_messages=50, include_system=False)
    assert len(ctx.messages) == 50
    assert all(m.role.value == "user" for m in ctx.messages)
    assert ctx.messages[-1].seq == 120
    users = 120 - 34 - 7
    assert ctx.omitted_messages == users - 50
    pinned = await db.query(tenant, build_context, cid, max_messages=50)
    assert len(pinned.messages) == 50 + 41
    assert seqs(pinned) == sorted(seqs(pinned))


async def test_defaults_from_tier_and_model(db, tenant) -> None:
    cid = await conversation(db, tenant, *[msg("user", tokens=3000) for _ in range(60)])
    assert len((await db.query(tenant, build_context, cid)).messages) == 5  # DEFAULT_TIER free
    assert len((await db.query(tenant, build_context, cid, tier="enterprise")).messages) == 50
    assert len((await db.query(tenant, build_context, cid, tier="advance")).messages) == 15
    gpt4 = await db.query(tenant, build_context, cid, model="gpt-4-0613", tier="enterprise")
    assert len(gpt4.messages) == 2
    assert gpt4.total_tokens == 6000
    with pytest.raises(ValidationFailed):
        await db.query(tenant, build_context, cid, tier="platinum")


def test_policy_tiers_and_model_prefixes() -> None:
    p = ContextPolicy(tier_limits={"free": 5, "pro": 30}, tenant_tiers={"acme": "pro"})
    assert p.message_limit("acme") == 30
    assert p.message_limit("other") == 5
    assert p.model_window("gpt-4o-mini-2024-07-18") == 128_000
    assert p.model_window("gpt-4-32k") == 32_768
    assert p.model_window("my-own-model") is None


async def test_bad_input_and_other_tenants(db, tenant) -> None:
    cid = await conversation(db, tenant, msg("user"))
    with pytest.raises(NotFound):
        await db.query("someone-else", build_context, cid)
    with pytest.raises(ValidationFailed) as e:
        await db.query(tenant, build_context, cid, max_tokens=0)
    assert e.value.field == "max_tokens"
    with pytest.raises(ValidationFailed):
        await db.query(tenant, build_context, cid, max_messages=5000)
    with pytest.raises(ValidationFailed):
        await db.query(tenant, build_context, "not-a-uuid")


def test_unknown_tier_fails_at_start_up() -> None:
    from conversation_service.config import Settings
    from conversation_service.domain.context import ContextPolicy

    with pytest.raises(ValueError, match="Free"):
        ContextPolicy.from_settings(Settings(default_tier="Free"))
    with pytest.raises(ValueError, match="gold"):
        ContextPolicy.from_settings(Settings(tenant_tiers={"t": "gold"}))
    assert ContextPolicy.from_settings(Settings()).message_limit("any") == 5
