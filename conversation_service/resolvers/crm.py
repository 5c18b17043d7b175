"""The `syncConversationToCrm` mutation (the CRM fields' loaders live in `loaders`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from conversation_service.domain.crm_sync import CrmSyncRecord, request_crm_sync
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema.arguments import CONVERSATION_ID
from conversation_service.schema.types import CrmSync


async def sync_conversation_to_crm(
    info: strawberry.Info, id: Annotated[strawberry.ID, CONVERSATION_ID]
) -> CrmSync:
    ctx: GraphQLContext = info.context
    record: CrmSyncRecord = await ctx.db.run(ctx.tenant_id, request_crm_sync, id)
    return CrmSync.from_record(record)
