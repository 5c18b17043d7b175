"""Per-agent usage of one tenant: one aggregate query over conversations and messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, select

from conversation_service.adapters.store.base import Store
from conversation_service.domain.records import AgentUsageRecord
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c


class SqlUsageStore(Store):
    __slots__ = ()

    async def agent_usage(
        self, agent_id: str, from_date: datetime | None, to_date: datetime | None
    ) -> AgentUsageRecord:
        """Conversations by (tenant_id, agent_id), messages by (tenant_id, conversation_id,
        created_at)."""
        tenant_id = self.tenant_id
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
        conn = await self._session.connection()
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
