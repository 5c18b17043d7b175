"""State resolvers."""

from __future__ import annotations

from typing import Annotated

import strawberry

from conversation_service.domain import state as domain
from conversation_service.schema.arguments import CONVERSATION_ID, described
from conversation_service.schema.inputs import UpdateStateInput
from conversation_service.schema.types import StateEntry


async def conversation_state(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, CONVERSATION_ID],
    state_key: Annotated[str, described("The state key (1-255 characters).")],
) -> StateEntry | None:
    ctx = info.context
    record = await ctx.db.query(ctx.tenant_id, domain.get_state, conversation_id, state_key)
    return StateEntry.from_record(record) if record is not None else None


async def update_conversation_state(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, CONVERSATION_ID],
    input: Annotated[UpdateStateInput, described("The key to set or delete, and how.")],
) -> StateEntry:
    ctx = info.context
    record = await ctx.db.run(
        ctx.tenant_id, domain.write_state, conversation_id, input.to_command()
    )
    return StateEntry.from_record(record)
