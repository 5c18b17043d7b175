"""Per-agent usage: conversations, messages and tokens in a period, in one aggregate query.

An agent's usage is that of the conversations it runs (`Conversation.agentId`), counting the
messages created in the period: `conversations` is how many of them had a message then,
`promptTokens` / `completionTokens` sum what the executions reported and `totalTokens` is their
sum (what the agent's executions cost; it used to add message token counts in, which made it
larger than prompt + completion). `contentTokens` sums the messages' own token counts, and
`conversationTokens` what `Conversation.totalTokens` adds up for these messages (the
execution's total when reported, else the message's token count).
"""

from __future__ import annotations

from datetime import datetime

from conversation_service.domain import validation as v
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import AgentUsageRecord

__all__ = ["AgentUsageRecord", "agent_usage"]


async def agent_usage(
    uow: UnitOfWork,
    agent_id: str,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
) -> AgentUsageRecord:
    v.text(agent_id, "agent_id")
    if from_date and to_date and from_date > to_date:
        raise ValidationFailed("from_date must not be after to_date", field="from_date")
    return await uow.usage.agent_usage(agent_id, from_date, to_date)
