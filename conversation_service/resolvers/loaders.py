"""DataLoaders: one query per nesting level, whatever the number of parents.

They return domain records (the GraphQL types convert them), so this module does not depend on
the schema and the types can import it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from conversation_service.domain.conversations import get_conversations_by_ids
from conversation_service.domain.crm_customers import CustomerLink, customer_link, lookup_customers
from conversation_service.domain.crm_sync import CrmSyncRecord, crm_sync_states
from conversation_service.domain.errors import NotFound
from conversation_service.domain.messages import MessageSlice, message_slices
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.records import ConversationRecord, StateRecord
from conversation_service.domain.state import state_for_conversations
from conversation_service.resolvers.context import GraphQLContext

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    ctx: GraphQLContext, name: str, batch: Callable[[list[K]], Awaitable[Sequence[V]]]
) -> DataLoader[K, V]:
    loader: DataLoader[K, V] | None = ctx.loaders.get(name)
    if loader is None:
        loader = DataLoader(load_fn=batch)
        ctx.loaders[name] = loader
    return loader


async def load_conversation(info: strawberry.Info, conversation_id: str) -> ConversationRecord:
    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[Any]:
        found = await ctx.db.query(tenant, get_conversations_by_ids, ids)
        return [found[i] if i in found else NotFound(f"conversation {i} not found") for i in ids]

    record: ConversationRecord = await _loader(ctx, "conversation", batch).load(conversation_id)
    return record


async def load_messages(
    info: strawberry.Info,
    conversation: ConversationRecord,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    from_timestamp: datetime | None,
    limit: int | None,
) -> MessageSlice:
    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id
    window = MessageWindow(first, after, last, before, from_timestamp, limit).validated()
    ctx.conversation_records[conversation.id] = conversation

    async def batch(keys: list[tuple[MessageWindow, str]]) -> list[MessageSlice]:
        by_window: dict[MessageWindow, list[str]] = defaultdict(list)
        for w, cid in keys:
            by_window[w].append(cid)
        out: dict[tuple[MessageWindow, str], MessageSlice] = {}
        for w, ids in by_window.items():
            convs = [ctx.conversation_records[i] for i in ids]
            for s in await ctx.db.query(tenant, message_slices, convs, w):
                out[(w, s.conversation.id)] = s
        return [out[k] for k in keys]

    return await _loader(ctx, "messages", batch).load((window, conversation.id))


async def load_state(info: strawberry.Info, conversation_id: str) -> list[StateRecord]:
    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[list[StateRecord]]:
        found = await ctx.db.query(tenant, state_for_conversations, ids)
        return [list(found[i]) for i in ids]

    return await _loader(ctx, "state", batch).load(conversation_id)


# ---- CRM fields: batched per request; a page of conversations costs one `crm_sync` query and
# at most one CRM call per distinct customer. CRM trouble never becomes a GraphQL error:
# `customer` is null and `extensions.warnings` says why.

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


async def load_crm_sync(info: strawberry.Info, conversation_id: str) -> CrmSyncRecord:
    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[CrmSyncRecord]:
        found = await ctx.db.query(tenant, crm_sync_states, ids)
        return [found[i] for i in ids]

    return await _loader(ctx, "crm_sync", batch).load(conversation_id)
