"""`/conversations/{id}/state`: versioned per-conversation state entries."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from conversation_service.domain import state as domain
from conversation_service.domain.errors import NotFound
from conversation_service.rest.dependencies import ConversationId, Db, StateKey, Tenant
from conversation_service.rest.models import StateResponse, UpdateStateRequest
from conversation_service.rest.responses import OrjsonRoute, json_response
from conversation_service.rest.routes.common import CONFLICT, NOT_FOUND
from conversation_service.serializers import state_json

router = APIRouter(route_class=OrjsonRoute, tags=["state"])


@router.post(
    "/conversations/{conversation_id}/state",
    response_model=StateResponse,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Write a state entry",
)
async def update_conversation_state(
    conversation_id: ConversationId,
    body: UpdateStateRequest,
    tenant: Tenant,
    db: Db,
) -> Response:
    """Sets `key` to `value` (`null` deletes it). With `expected_version` it is compare-and-set
    (`0`: only if absent), else 409. `ttl_seconds` makes the entry expire."""
    record = await db.run(tenant, domain.write_state, conversation_id, body.to_command())
    return json_response(state_json(record))


@router.get(
    "/conversations/{conversation_id}/state/{state_key}",
    response_model=StateResponse,
    responses=NOT_FOUND,
    summary="Read a state entry",
)
async def get_conversation_state(
    conversation_id: ConversationId, state_key: StateKey, tenant: Tenant, db: Db
) -> Response:
    """404 when the conversation or a live entry for the key does not exist."""
    record = await db.query(tenant, domain.get_state, conversation_id, state_key)
    if record is None:
        raise NotFound(f"state key {state_key!r} not found")
    return json_response(state_json(record))
