"""State resolvers."""

from __future__ import annotations

import strawberry

from conversation_service.domain import state as domain
from conversation_service.schema.inputs import UpdateStateInput
from conversation_service.schema.types import StateEntry


async def conversation_state(
    info: strawberry.Info, conversation_id: strawberry.ID, state_key: str
) -> StateEntry | None:
    ctx = info.context
    record = await ctx.db.query(ctx.tenant_id, domain.get_state, conversation_id, state_key)
    return StateEntry.from_record(record) if record is not None else None


async def update_conversation_state(
    info: strawberry.Info, conversation_id: strawberry.ID, input: UpdateStateInput
) -> StateEntry:
    ctx = info.context
    record = await ctx.db.run(
        ctx.tenant_id, domain.write_state, conversation_id, input.to_command()
    )
    return StateEntry.from_record(record)
