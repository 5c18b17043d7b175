"""DataLoaders: one query per nesting level, whatever the number of parents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from conversation_service.domain.conversations import get_conversations_by_ids
from conversation_service.domain.errors import NotFound
from conversation_service.domain.messages import message_slices
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.records import ConversationRecord
from conversation_service.domain.state import state_for_conversations
from conversation_service.resolvers.context import GraphQLContext

if TYPE_CHECKING:
    from conversation_service.schema.types import Conversation, MessageConnection, StateEntry

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


async def load_conversation(info: strawberry.Info, conversation_id: str) -> Conversation:
    from conversation_service.schema.types import Conversation

    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[Any]:
        found = await ctx.db.query(tenant, get_conversations_by_ids, ids)
        return [
            Conversation.from_record(found[i])
            if i in found
            else NotFound(f"conversation {i} not found")
            for i in ids
        ]

    conversation: Conversation = await _loader(ctx, "conversation", batch).load(conversation_id)
    return conversation


async def load_messages(
    info: strawberry.Info,
    conversation: ConversationRecord,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    from_timestamp: datetime | None,
    limit: int | None,
) -> MessageConnection:
    from conversation_service.schema.types import MessageConnection

    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id
    window = MessageWindow(first, after, last, before, from_timestamp, limit).validated()
    ctx.conversation_records[conversation.id] = conversation

    async def batch(keys: list[tuple[MessageWindow, str]]) -> list[MessageConnection]:
        by_window: dict[MessageWindow, list[str]] = defaultdict(list)
        for w, cid in keys:
            by_window[w].append(cid)
        out: dict[tuple[MessageWindow, str], MessageConnection] = {}
        for w, ids in by_window.items():
            convs = [ctx.conversation_records[i] for i in ids]
            for s in await ctx.db.query(tenant, message_slices, convs, w):
                out[(w, s.conversation.id)] = MessageConnection.from_slice(s)
        return [out[k] for k in keys]

    return await _loader(ctx, "messages", batch).load((window, conversation.id))


async def load_state(info: strawberry.Info, conversation_id: str) -> list[StateEntry]:
    from conversation_service.schema.types import StateEntry

    ctx: GraphQLContext = info.context
    tenant = ctx.tenant_id

    async def batch(ids: list[str]) -> list[list[StateEntry]]:
        found = await ctx.db.query(tenant, state_for_conversations, ids)
        return [[StateEntry.from_record(r) for r in found[i]] for i in ids]

    return await _loader(ctx, "state", batch).load(conversation_id)
