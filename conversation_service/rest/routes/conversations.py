"""`/conversations`: create, read one, list with filters and page numbers."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from conversation_service.domain import conversations as domain
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.pagination import ConversationPage
from conversation_service.domain.validation import MAX_INT
from conversation_service.rest.dependencies import ContainerDep, ConversationId, Tenant
from conversation_service.rest.models import (
    ConversationListResponse,
    ConversationResponse,
    CreateConversationRequest,
    Tag,
    UtcDateTime,
    identifier_query,
    tags_query,
)
from conversation_service.rest.responses import OrjsonRoute, json_response
from conversation_service.rest.routes.common import NOT_FOUND, REPLAYED
from conversation_service.serializers import conversation_json

router = APIRouter(route_class=OrjsonRoute, tags=["conversations"])


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationResponse,
    responses=REPLAYED,
    summary="Create a conversation",
)
async def create_conversation(
    body: CreateConversationRequest, tenant: Tenant, container: ContainerDep
) -> Response:
    """Creates a conversation (with `initial_messages`, in one transaction). With a caller-chosen
    `id` that already exists the stored conversation is returned unchanged, still with 201 (a
    retry looks like the first success) and the header `Idempotent-Replayed: true`."""
    record, created = await container.db.run(tenant, domain.create_conversation, body.to_command())
    headers = None if created else {"Idempotent-Replayed": "true"}
    return json_response(conversation_json(record), 201, headers)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationResponse,
    responses=NOT_FOUND,
    summary="Get a conversation",
)
async def get_conversation(
    conversation_id: ConversationId, tenant: Tenant, container: ContainerDep
) -> Response:
    record = await container.db.query(tenant, domain.get_conversation, conversation_id)
    return json_response(conversation_json(record))


@router.get(
    "/conversations",
    response_model=ConversationListResponse,
    summary="List conversations",
)
async def list_conversations(
    tenant: Tenant,
    container: ContainerDep,
    user_id: Annotated[str | None, identifier_query("Conversations with this user_id.")] = None,
    agent_id: Annotated[str | None, identifier_query("Conversations with this agent_id.")] = None,
    status: Annotated[
        ConversationStatus | None, Query(description="Conversations in this status.")
    ] = None,
    from_date: Annotated[
        UtcDateTime | None, Query(description="created_at >= from_date (ISO-8601; naive is UTC)")
    ] = None,
    to_date: Annotated[
        UtcDateTime | None,
        Query(description="created_at <= to_date (ISO-8601; naive is UTC); not before from_date"),
    ] = None,
    tags: Annotated[list[Tag] | None, tags_query()] = None,
    page: Annotated[int, Query(gt=0, le=MAX_INT, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(gt=0, le=100, description="Conversations per page.")] = 20,
) -> Response:
    """Newest first, by page number."""
    query = ConversationQuery(
        user_id=user_id,
        agent_id=agent_id,
        status=status,
        from_date=from_date,
        to_date=to_date,
        tags=tags,
    )
    window = ConversationPage(page=page, page_size=page_size)
    async with container.db.reading(tenant) as uow:
        found = await domain.list_conversations(uow, query, window)
        total = await domain.count_conversations(uow, query)
    return json_response(
        {
            "items": [conversation_json(r) for r in found.items],
            "total": total,
            "page": page,
            "page_size": page_size,
            "pages": math.ceil(total / page_size),
        }
    )
