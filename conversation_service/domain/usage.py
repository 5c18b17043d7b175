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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select

from conversation_service.adapters.database import Database
from conversation_service.domain import validation as v
from conversation_service.domain.errors import ValidationFailed
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c


@dataclass(slots=True)
class AgentUsageRecord:
    agent_id: str
    conversations: int
    messages: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    content_tokens: int
    conversation_tokens: int


async def agent_usage(
    db: Database,
    tenant_id: str,
    agent_id: str,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
) -> AgentUsageRecord:
    v.text(agent_id, "agent_id")
    if from_date and to_date and from_date > to_date:
        raise ValidationFailed("from_date must not be after to_date", field="from_date")
    prompt = M.execution["prompt_tokens"].as_integer()
    completion = M.execution["completion_tokens"].as_integer()
    reported_total = M.execution["total_tokens"].as_integer()
    usage = case((reported_total.is_not(None), reported_total), else_=M.token_count)
    join = and_(M.tenant_id == C.tenant_id, M.conversation_id == C.id)
    conds = [C.tenant_id == tenant_id, C.agent_id == agent_id, M.tenant_id == tenant_id]
    if from_date is not None:
        conds.append(M.created_at >= from_date)
    if to_date is not None:
        conds.append(M.created_at <= to_date)
    stmt = (
        select(
            func.count(func.distinct(M.conversation_id)),
            func.count(),
            func.coalesce(func.sum(prompt), 0),
            func.coalesce(func.sum(completion), 0),
            func.coalesce(func.sum(usage), 0),
            func.coalesce(func.sum(M.token_count), 0),
        )
        .select_from(conversations.join(messages, join))
        .where(*conds)
    )
    async with db.read() as conn:
        row = (await conn.execute(stmt)).one()
    return AgentUsageRecord(
        agent_id=agent_id,
        conversations=int(row[0]),
        messages=int(row[1]),
        prompt_tokens=int(row[2]),
        completion_tokens=int(row[3]),
        total_tokens=int(row[2]) + int(row[3]),
        content_tokens=int(row[5]),
        conversation_tokens=int(row[4]),
    )
