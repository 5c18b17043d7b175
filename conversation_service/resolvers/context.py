"""Per-request GraphQL context: the container, the tenant (resolved in one place) and loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from conversation_service.adapters.database import Database
from conversation_service.domain import validation
from conversation_service.domain.identity import Principal, Role, anonymous

if TYPE_CHECKING:
    from conversation_service.bootstrap import Container
    from conversation_service.domain.records import ConversationRecord


@dataclass
class GraphQLContext:
    container: Container
    raw_tenant_id: str | None
    loaders: dict[str, Any] = field(default_factory=dict)
    conversation_records: dict[str, ConversationRecord] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    connection_id: str | None = None
    #: who the door authenticated; None under AUTH_MODE=none (anyone naming a tenant)
    principal: Principal | None = None

    @property
    def tenant_id(self) -> str:
        """The validated tenant; raises UNAUTHENTICATED when the request carries none."""
        if self.principal is not None:
            return self.principal.tenant_id
        return validation.tenant_id(self.raw_tenant_id)

    @property
    def actor(self) -> str:
        """Who acts, for `uow.actor` (the audit log): the principal's actor (key id, JWT `sub`);
        `anonymous` under AUTH_MODE=none."""
        return self.principal.actor if self.principal is not None else "anonymous"

    @cached_property
    def db(self) -> Database:
        """The unit-of-work factory, bound to this request's actor: every unit of work a
        resolver opens through it carries `uow.actor` (see `Database.acting`)."""
        return self.container.db.acting(self.actor)

    def require(self, role: Role) -> Principal:
        """The caller's principal, if it holds `role` (FORBIDDEN otherwise)."""
        principal = self.principal or anonymous(self.tenant_id)
        principal.require(role)
        return principal
