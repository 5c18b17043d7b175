"""`/subjects/export`: everything stored about a data subject, as NDJSON (right of access)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from conversation_service.domain import export as domain
from conversation_service.domain.identity import Role
from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord
from conversation_service.domain.validation import MAX_ID_CHARS
from conversation_service.rest.dependencies import Caller, ContainerDep, Tenant
from conversation_service.rest.models import ErrorResponse
from conversation_service.rest.responses import OrjsonRoute, json_response
from conversation_service.serializers import conversation_json, message_json, state_json

router = APIRouter(route_class=OrjsonRoute, tags=["subjects"])
NDJSON = "application/x-ndjson"
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
EMAIL = r"^[^\x00-\x1f\x7f]*@[^\x00-\x1f\x7f]*$"


def _line(kind: str, record: Any) -> bytes:
    if isinstance(record, ConversationRecord):
        data = conversation_json(record)
    elif isinstance(record, MessageRecord):
        data = message_json(record)
    else:
        assert isinstance(record, StateRecord)
        data = state_json(record)
    return orjson.dumps({"type": kind, "data": data}) + b"\n"


@router.get(
    "/subjects/export",
    summary="Export a data subject (admin)",
    # read by clients and by the access-matrix tests: this GET needs more than a reader
    openapi_extra={"x-required-role": "admin"},
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": 'One JSON object a line: `{"type": "conversation" | "message" | '
            '"state", "data": {...}}` in the REST shapes; conversations first, then their '
            "messages (by conversation and seq), then their state entries.",
        },
        400: {"model": ErrorResponse, "description": "Neither or both of the subject's keys."},
        403: {"model": ErrorResponse, "description": "The caller is not an admin."},
    },
)
async def export_subject(
    tenant: Tenant,
    caller: Caller,
    container: ContainerDep,
    user_id: Annotated[
        str | None,
        Query(
            description="The conversations' user id (give this or `customer_email`).",
            json_schema_extra={"minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": PRINTABLE},
        ),
    ] = None,
    customer_email: Annotated[
        str | None,
        Query(
            description="The customer's e-mail, `customer_info.email` in any case (give this "
            "or `user_id`).",
            json_schema_extra={"minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": EMAIL},
        ),
    ] = None,
) -> Response:
    """Every conversation of the subject with its messages and state entries, streamed from
    server-side cursors (memory stays flat however large the subject). The export is recorded
    in the audit log (`subject.export`) before the first line is sent."""
    caller.require(Role.ADMIN)
    if (user_id is None) == (customer_email is None):
        return json_response({"detail": "give exactly one of user_id or customer_email"}, 400)
    sel = domain.subject(user_id, customer_email)
    async with container.db(tenant, actor=caller.actor) as uow:
        await domain.begin_subject_export(uow, sel)
        await uow.commit()

    async def lines() -> AsyncIterator[bytes]:
        async with container.db.reading(tenant) as reading:
            async for kind, record in domain.subject_records(reading, sel):
                yield _line(kind, record)

    return StreamingResponse(lines(), media_type=NDJSON)
