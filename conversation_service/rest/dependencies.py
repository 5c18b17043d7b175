"""Request dependencies: the container, the tenant, and path ids.

The tenant is checked by `domain.validation.tenant_id`, the one rule every door uses; a missing
header is FastAPI's own 422, a malformed one becomes the same 422 in `rest/errors.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Path, Request

from conversation_service.adapters.database import Database
from conversation_service.domain import validation
from conversation_service.domain.errors import NotFound, Unauthenticated, ValidationFailed
from conversation_service.domain.identity import Principal, Role, anonymous

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container

TENANT_HEADER = "X-Tenant-ID"


def get_container(request: Request) -> Container:
    """The parent app's container, through the getter `create_rest_app` was given."""
    getter: Callable[[], Container] = request.app.state.get_container
    return getter()


def get_principal(
    request: Request,
    x_tenant_id: Annotated[
        str,
        Header(
            alias=TENANT_HEADER,
            description="The tenant: 1-64 characters of letters, digits, `_`, `.`, `:` or `-`. "
            "Under AUTH_MODE=required it must be the credential's own tenant (any tenant for a "
            "service key).",
            json_schema_extra={"pattern": validation.TENANT_RE.pattern},
        ),
    ],
) -> Principal:
    """Who calls, holding the role the method needs (reader for GET, writer otherwise): the
    principal the authentication middleware admitted (AUTH_MODE=required, its tenant already
    checked against the header), or anyone naming the tenant (AUTH_MODE=none)."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None and get_container(request).settings.auth_required:
        raise Unauthenticated("a credential is required")  # never anonymous then
    principal = found if found is not None else anonymous(validation.tenant_id(x_tenant_id))
    principal.require(Role.READER if request.method in ("GET", "HEAD") else Role.WRITER)
    return principal


def get_tenant(principal: Annotated[Principal, Depends(get_principal)]) -> str:
    """The tenant the request acts for."""
    return principal.tenant_id


def get_db(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Database:
    """The unit-of-work factory bound to the caller's actor (`uow.actor`, see `Database.acting`)."""
    return get_container(request).db.acting(principal.actor)


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
Db = Annotated[Database, Depends(get_db)]
