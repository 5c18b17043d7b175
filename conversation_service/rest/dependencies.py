"""Request dependencies: the container, the tenant, and path ids.

The tenant is checked by `domain.validation.tenant_id`, the one rule every door uses; a missing
header is FastAPI's own 422, a malformed one becomes the same 422 in `rest/errors.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Path, Request

from conversation_service.domain import validation
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.domain.identity import Principal, anonymous

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container

TENANT_HEADER = "X-Tenant-ID"


def get_container(request: Request) -> Container:
    """The parent app's container, through the getter `create_rest_app` was given."""
    getter: Callable[[], Container] = request.app.state.get_container
    return getter()


def get_tenant(
    x_tenant_id: Annotated[
        str,
        Header(
            alias=TENANT_HEADER,
            description="The tenant: 1-64 characters of letters, digits, `_`, `.`, `:` or `-`.",
            json_schema_extra={"pattern": validation.TENANT_RE.pattern},
        ),
    ],
) -> str:
    return validation.tenant_id(x_tenant_id)


def get_principal(request: Request, tenant: Annotated[str, Depends(get_tenant)]) -> Principal:
    """The principal the authentication layer put on the request; anyone naming the tenant
    under AUTH_MODE=none."""
    found: Principal | None = getattr(request.state, "principal", None)
    return found if found is not None else anonymous(tenant)


def get_conversation_id(
    conversation_id: Annotated[str, Path(description="The conversation's UUID.")],
) -> str:
    """A path id that is not a UUID names no conversation: 404, as for any unknown id."""
    try:
        return validation.uuid_id(conversation_id, "conversation_id")
    except ValidationFailed:
        raise NotFound("conversation not found") from None


def get_state_key(state_key: Annotated[str, Path(description="The state key.")]) -> str:
    """A key that could never be stored names no entry: 404."""
    try:
        return validation.text(state_key, "key", validation.MAX_STATE_KEY_CHARS)
    except ValidationFailed:
        raise NotFound("state key not found") from None


ContainerDep = Annotated["Container", Depends(get_container)]
Tenant = Annotated[str, Depends(get_tenant)]
Caller = Annotated[Principal, Depends(get_principal)]
ConversationId = Annotated[str, Depends(get_conversation_id)]
StateKey = Annotated[str, Depends(get_state_key)]
