"""`/conversations/{id}/messages`: add one, read a window in seq order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from conversation_service.domain import messages as domain
from conversation_service.domain.pagination import MessageWindow
from conversation_service.rest.dependencies import ContainerDep, ConversationId, Tenant
from conversation_service.rest.models import (
    CreateMessageRequest,
    MessageListResponse,
    MessageResponse,
    UtcDateTime,
)
from conversation_service.rest.responses import OrjsonRoute, json_response
from conversation_service.rest.routes.common import NOT_FOUND, REPLAYED
from conversation_service.serializers import message_json

router = APIRouter(route_class=OrjsonRoute, tags=["messages"])


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=MessageResponse,
    responses={**REPLAYED, **NOT_FOUND},
    summary="Add a message",
)
async def add_message(
    conversation_id: ConversationId,
    body: CreateMessageRequest,
    tenant: Tenant,
    container: ContainerDep,
) -> Response:
    """Appends with the next `seq`. A retry with the same `client_message_id` returns the first
    message (201, header `Idempotent-Replayed: true`) and writes nothing."""
    added = await container.db.run(tenant, domain.add_message, conversation_id, body.to_command())
    headers = None if added.created else {"Idempotent-Replayed": "true"}
    return json_response(message_json(added.message), 201, headers)


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessageListResponse,
    responses=NOT_FOUND,
    summary="List messages",
)
async def get_messages(
    conversation_id: ConversationId,
    tenant: Tenant,
    container: ContainerDep,
    from_timestamp: Annotated[
        UtcDateTime | None,
        Query(description="Messages created at or after this (ISO-8601; naive is UTC)."),
    ] = None,
    limit: Annotated[
        int, Query(gt=0, le=100, description="At most this many messages, from the oldest.")
    ] = 50,
) -> Response:
    """The oldest `limit` messages from `from_timestamp` on, in seq order."""
    window = MessageWindow(from_timestamp=from_timestamp, limit=limit)
    found = await container.db.query(tenant, domain.list_messages, conversation_id, window)
    return json_response(
        {
            "items": [message_json(m) for m in found.items],
            "total": found.total,
            "has_more": found.has_next,
        }
    )
