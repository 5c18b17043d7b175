"""Per-agent usage: conversations, messages and tokens in a period, in one aggregate query.

An agent's usage is that of the conversations it runs (`Conversation.agentId`), counting the
messages created in the period: `conversations` is how many of them had a message then,
`promptTokens` / `completionTokens` sum what the executions reported, and `totalTokens` sums
each message's usage tokens (the execution's total when reported, else its token count: the
same figure `Conversation.totalTokens` adds up).
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
        total_tokens=int(row[4]),
    )
