"""CRM resolvers: `Conversation.customer`, `Conversation.crmSync`, `syncConversationToCrm`.

Both fields are batched per request by DataLoaders: a page of conversations costs one
`crm_sync` query and at most one CRM call per distinct customer (fewer on cache hits).
CRM trouble never becomes a GraphQL error: `customer` is null and `extensions.warnings`
says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry

from conversation_service.domain.crm_customers import (
    CustomerLink,
    customer_link,
    lookup_customers,
)
from conversation_service.domain.crm_sync import (
    CrmSyncRecord,
    crm_sync_states,
    request_crm_sync,
)
from conversation_service.domain.records import ConversationRecord
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.resolvers.loaders import _loader

if TYPE_CHECKING:
    from conversation_service.schema.types import CrmSync

CRM_WARNING = "CRM_UNAVAILABLE"


def _add_warnings(ctx: GraphQLContext, messages: list[str]) -> None:
    if not messages:
        return
    warnings: list[dict[str, Any]] = ctx.extensions.setdefault("warnings", [])
    for m in messages:
        entry = {"code": CRM_WARNING, "message": m}
        if entry not in warnings:
            warnings.append(entry)


async def load_customer(info: strawberry.Info, record: ConversationRecord) -> Any:
    link = customer_link(record)
    if link is None:
        return None
    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(links: list[CustomerLink]) -> list[Any]:
        found = await lookup_customers(ctx.container.crm, tenant, links)
        _add_warnings(ctx, found.warnings)
        return [found.customers.get(link) for link in links]

    return await _loader(ctx, "crm_customer", batch).load(link)


async def load_crm_sync(info: strawberry.Info, conversation_id: str) -> CrmSync:
    from conversation_service.schema.types import CrmSync

    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[CrmSync]:
        found = await ctx.db.query(tenant, crm_sync_states, ids)
        return [CrmSync.from_record(found[i]) for i in ids]

    sync: CrmSync = await _loader(ctx, "crm_sync", batch).load(conversation_id)
    return sync


async def sync_conversation_to_crm(info: strawberry.Info, id: strawberry.ID) -> CrmSync:
    from conversation_service.schema.types import CrmSync

    ctx: GraphQLContext = info.context
    record: CrmSyncRecord = await ctx.db.run(ctx.tenant_id, request_crm_sync, id)
    return CrmSync.from_record(record)
