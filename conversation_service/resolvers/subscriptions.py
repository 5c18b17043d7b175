"""Subscription sources: which feed serves which root field, and how a record becomes its type.

The WebSocket transport (web/ws/) calls `open_feed` once per group of identical
subscriptions and executes the selection once per event; the Strawberry resolvers below use the
same feeds, so `schema.subscribe` (and the SDL) agree with what the transport serves.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated, Any

import strawberry

from conversation_service.domain.feeds import (
    annotation_feed,
    annotation_version,
    conversation_feed,
    erased_feed,
    message_feed,
    state_feed,
)
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema.arguments import described
from conversation_service.schema.types import Conversation, Message, StateEntry


def open_feed(
    ctx: GraphQLContext, field: str, args: dict[str, Any], resume: dict[str, Any] | None = None
) -> tuple[AsyncIterator[Any], Callable[[Any], Any]]:
    """The feed for a root subscription field (GraphQL argument names) and its type builder."""
    db = ctx.db
    broadcast = ctx.container.broadcast
    tenant = ctx.tenant_id
    resume = resume or {}
    if field == "messageAdded":
        return (
            message_feed(
                db,
                broadcast,
                tenant,
                conversation_id=args.get("conversationId"),
                agent_id=args.get("agentId"),
                user_id=args.get("userId"),
                after_seq=args.get("afterSeq"),
                resume=resume.get("positions"),
                resume_since=resume.get("since"),
            ),
            Message.from_record,
        )
    if field == "messageErased":
        return (
            erased_feed(
                db,
                broadcast,
                tenant,
                conversation_id=args.get("conversationId"),
                agent_id=args.get("agentId"),
                user_id=args.get("userId"),
            ),
            Message.from_record,
        )
    if field == "messageAnnotated":
        return (
            annotation_feed(
                db,
                broadcast,
                tenant,
                conversation_id=args.get("conversationId"),
                agent_id=args.get("agentId"),
                user_id=args.get("userId"),
                resume=resume.get("positions"),
                resume_since=resume.get("since"),
            ),
            Message.from_record,
        )
    if field == "conversationChanged":
        return (
            conversation_feed(
                db,
                broadcast,
                tenant,
                conversation_id=args.get("conversationId"),
                resume=resume.get("positions"),
                resume_since=resume.get("since"),
            ),
            Conversation.from_record,
        )
    if field == "stateChanged":
        return (
            state_feed(
                db,
                broadcast,
                tenant,
                conversation_id=args["conversationId"],
                key=args.get("stateKey"),
                resume=resume.get("positions"),
            ),
            StateEntry.from_record,
        )
    raise KeyError(field)


def position_of(field: str, record: Any) -> tuple[str, int]:
    """Where a delivered record leaves its subscriber: (conversation or key, seq or version)."""
    if field in ("messageAdded", "messageErased"):
        return record.conversation_id, record.seq
    if field == "messageAnnotated":
        return record.id, annotation_version(record)
    if field == "conversationChanged":
        return record.id, record.version
    return record.key, record.version


async def message_added(
    info: strawberry.Info,
    conversation_id: Annotated[
        strawberry.ID | None,
        described("Only this conversation's messages; absent: every conversation of the tenant."),
    ] = None,
    agent_id: Annotated[
        str | None, described("Only messages of conversations whose agentId is this.")
    ] = None,
    user_id: Annotated[
        str | None, described("Only messages of conversations whose userId is this.")
    ] = None,
    after_seq: Annotated[
        int | None,
        described(
            "Resume point (>= 0, needs conversationId): first every stored message with a "
            "greater seq, then live ones, with no gap and no duplicate."
        ),
    ] = None,
) -> AsyncGenerator[Message, None]:
    feed, build = open_feed(
        info.context,
        "messageAdded",
        {
            "conversationId": conversation_id,
            "agentId": agent_id,
            "userId": user_id,
            "afterSeq": after_seq,
        },
    )
    async with contextlib.aclosing(feed) as records:  # type: ignore[type-var]
        async for record in records:
            yield build(record)


async def message_erased(
    info: strawberry.Info,
    conversation_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this conversation's erased messages."),
    ] = None,
    agent_id: Annotated[
        str | None,
        strawberry.argument(description="Only messages of conversations of this agent."),
    ] = None,
    user_id: Annotated[
        str | None,
        strawberry.argument(description="Only messages of conversations of this user."),
    ] = None,
) -> AsyncGenerator[Message, None]:
    feed, build = open_feed(
        info.context,
        "messageErased",
        {"conversationId": conversation_id, "agentId": agent_id, "userId": user_id},
    )
    async with contextlib.aclosing(feed) as records:  # type: ignore[type-var]
        async for record in records:
            yield build(record)


async def message_annotated(
    info: strawberry.Info,
    conversation_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this conversation's messages."),
    ] = None,
    agent_id: Annotated[
        str | None, strawberry.argument(description="Only conversations of this agent.")
    ] = None,
    user_id: Annotated[
        str | None, strawberry.argument(description="Only conversations of this user.")
    ] = None,
) -> AsyncGenerator[Message, None]:
    feed, build = open_feed(
        info.context,
        "messageAnnotated",
        {"conversationId": conversation_id, "agentId": agent_id, "userId": user_id},
    )
    async with contextlib.aclosing(feed) as records:  # type: ignore[type-var]
        async for record in records:
            yield build(record)


async def conversation_changed(
    info: strawberry.Info,
    conversation_id: Annotated[
        strawberry.ID | None,
        described("Only this conversation; absent: every conversation of the tenant."),
    ] = None,
) -> AsyncGenerator[Conversation, None]:
    feed, build = open_feed(
        info.context, "conversationChanged", {"conversationId": conversation_id}
    )
    async with contextlib.aclosing(feed) as records:  # type: ignore[type-var]
        async for record in records:
            yield build(record)


async def state_changed(
    info: strawberry.Info,
    conversation_id: Annotated[strawberry.ID, described("The conversation whose state to watch.")],
    state_key: Annotated[str | None, described("Only this key; absent: every key.")] = None,
) -> AsyncGenerator[StateEntry, None]:
    feed, build = open_feed(
        info.context, "stateChanged", {"conversationId": conversation_id, "stateKey": state_key}
    )
    async with contextlib.aclosing(feed) as records:  # type: ignore[type-var]
        async for record in records:
            yield build(record)
