"""Who acts: the principal a door resolved from its credential, and the role rules.

Every door turns its credential into one `Principal` (tenant, actor, roles); services and
resolvers ask `principal.require(Role.ADMIN)` instead of looking at credentials themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from conversation_service.domain.errors import Forbidden


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"
    SERVICE = "service"


#: What each role grants besides itself (api-contract.md, "Identity and access").
IMPLIES: dict[Role, frozenset[Role]] = {
    Role.READER: frozenset({Role.READER}),
    Role.WRITER: frozenset({Role.READER, Role.WRITER}),
    Role.ADMIN: frozenset({Role.READER, Role.WRITER, Role.ADMIN}),
    Role.SERVICE: frozenset({Role.READER, Role.WRITER, Role.SERVICE}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The tenant a caller acts for, who it is (audit `actor`) and the roles it holds."""

    tenant_id: str
    actor: str
    roles: frozenset[Role]

    def allows(self, role: Role) -> bool:
        return any(role in IMPLIES[held] for held in self.roles)

    def require(self, role: Role) -> None:
        if not self.allows(role):
            raise Forbidden(f"this operation needs the {role.value} role")


def anonymous(tenant_id: str) -> Principal:
    """`AUTH_MODE=none`: whoever names a tenant acts for it with every role."""
    return Principal(tenant_id, "anonymous", frozenset({Role.ADMIN, Role.SERVICE}))
