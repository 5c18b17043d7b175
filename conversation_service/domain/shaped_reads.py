"""Reads answered as JSON built by the database (see `shapes`): the same argument rules as
`list_conversations` and `list_messages`, one statement."""

from __future__ import annotations

from conversation_service.domain import validation as v
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.conversations import validate_query
from conversation_service.domain.pagination import ConversationPage, parse_conversation_cursor
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.shapes import ConversationShape, MessagesShape


async def conversations_json(
    uow: UnitOfWork, q: ConversationQuery, page: ConversationPage, shape: ConversationShape
) -> str | None:
    """The JSON array of `list_conversations(q, page)`'s items, each shaped as `shape` says,
    or None when this store cannot shape answers (the caller answers the ordinary way)."""
    q = validate_query(q)
    page = page.validated()
    offset = 0
    after = None
    if page.is_offset:
        offset = ((page.page or 1) - 1) * page.size
    elif page.after is not None:
        after = parse_conversation_cursor(page.after)
    return await uow.conversations.page_json(
        q, descending=page.descending, offset=offset, limit=page.size, after=after, shape=shape
    )


async def messages_json(uow: UnitOfWork, conversation_id: str, shape: MessagesShape) -> str | None:
    """`list_messages(conversation_id, shape.window)` as the JSON object of its connection;
    None when the conversation does not exist or the store cannot shape (the ordinary path
    then answers, with its NOT_FOUND)."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    return await uow.conversations.messages_json(conversation_id, shape)
