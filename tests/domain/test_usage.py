from datetime import timedelta

import pytest

from conversation_service.domain.clock import utcnow
from conversation_service.domain.conversations import get_conversation
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.usage import agent_usage
from tests.domain.helpers import add, conversation, msg


def turn(prompt: int | None, completion: int | None, total: int | None = None, **kw) -> dict:
    e = {"mode": "advance", "iterations": 2, "execution_time_ms": 840, **kw}
    if prompt is not None:
        e["prompt_tokens"] = prompt
    if completion is not None:
        e["completion_tokens"] = completion
    if total is not None:
        e["total_tokens"] = total
    return e


async def test_usage_sums_per_agent_and_per_conversation(db, tenant) -> None:
    c1 = await conversation(db, tenant, agent_id="a1")
    c2 = await conversation(db, tenant, agent_id="a1")
    c3 = await conversation(db, tenant, agent_id="a2")
    await add(db, tenant, c1, msg("user", "hello world"))  # 2 tokens, counted by us
    a = await add(db, tenant, c1, msg("assistant", "hi", tokens=1, execution=turn(100, 20)))
    assert a.execution is not None
    assert a.execution["total_tokens"] == 120
    assert a.execution["execution_time_ms"] == 840
    assert a.execution["iterations"] == 2
    await add(db, tenant, c2, msg("assistant", "x", tokens=4, execution=turn(50, 5, 60)))
    await add(db, tenant, c2, msg("tool", "y", tokens=7))
    await add(db, tenant, c3, msg("assistant", "z", tokens=1, execution=turn(999, 1)))
    conv1 = await get_conversation(db, tenant, c1)
    assert conv1.total_tokens == 2 + 120  # execution total when reported, else token count
    assert (await get_conversation(db, tenant, c2)).total_tokens == 60 + 7
    u = await agent_usage(db, tenant, "a1")
    assert (u.conversations, u.messages) == (2, 4)
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (150, 25, 150 + 25)
    assert u.conversation_tokens == 2 + 120 + 60 + 7
    assert u.conversation_tokens == conv1.total_tokens + 67
    assert u.content_tokens == 2 + 1 + 4 + 7
    none = await agent_usage(db, tenant, "nobody")
    assert (none.conversations, none.messages, none.total_tokens) == (0, 0, 0)
    assert (none.content_tokens, none.conversation_tokens) == (0, 0)
    assert (await agent_usage(db, "t-x-" + tenant, "a1")).messages == 0


async def test_usage_period(db, tenant) -> None:
    c = await conversation(db, tenant, agent_id="a")
    await add(db, tenant, c, msg("assistant", "x", tokens=1, execution=turn(10, 1)))
    after = utcnow()
    assert (
        await agent_usage(db, tenant, "a", from_date=after + timedelta(seconds=1))
    ).messages == 0
    in_range = await agent_usage(
        db, tenant, "a", from_date=after - timedelta(hours=1), to_date=after
    )
    assert (in_range.messages, in_range.prompt_tokens) == (1, 10)
    with pytest.raises(ValidationFailed):
        await agent_usage(db, tenant, "a", from_date=after, to_date=after - timedelta(days=1))


async def test_bad_execution_is_rejected(db, tenant) -> None:
    c = await conversation(db, tenant)
    with pytest.raises(ValidationFailed) as e:
        await add(db, tenant, c, msg("assistant", "x", execution={"prompt_tokens": -1}))
    assert e.value.field == "execution.prompt_tokens"
    assert (await get_conversation(db, tenant, c)).message_count == 0


async def test_usage_total_is_prompt_plus_completion(db, tenant) -> None:
    """Regression: long user messages (token counts, no execution) inflated totalTokens far
    beyond promptTokens + completionTokens."""
    c = await conversation(db, tenant, agent_id="rag")
    await add(db, tenant, c, msg("user", "q", tokens=5_000))
    await add(db, tenant, c, msg("assistant", "a", tokens=152, execution=turn(260, 40)))
    u = await agent_usage(db, tenant, "rag")
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (260, 40, 300)
    assert u.content_tokens == 5_152
    assert u.conversation_tokens == (await get_conversation(db, tenant, c)).total_tokens == 5_300
