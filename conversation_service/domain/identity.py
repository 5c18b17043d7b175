"""Who acts: the principal a door resolved from its credential, and the role rules.

Every door turns its credential into one `Principal` (tenant, actor, roles); services and
resolvers ask `principal.require(Role.ADMIN)` instead of looking at credentials themselves.
`acting_for` is the one tenant rule of every door: which tenant a verified credential may act
for, given the `X-Tenant-ID` the request named (if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from conversation_service.domain import validation
from conversation_service.domain.errors import Forbidden, Unauthenticated, ValidationFailed

#: The tenant of a service credential: it acts for whichever tenant the request names.
SERVICE_TENANT = "*"


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

    @property
    def is_service(self) -> bool:
        """A credential for every tenant (`--tenant '*'` with role `service`)."""
        return self.tenant_id == SERVICE_TENANT


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValidationFailed(f"role must be one of {names}", field="role") from None


def named_tenant(values: list[str]) -> str | None:
    """The tenant a request names in `X-Tenant-ID` (None: not named). Sent twice is refused,
    never silently resolved; a malformed value is UNAUTHENTICATED, as without credentials."""
    if not values:
        return None
    if len(values) > 1:
        raise ValidationFailed("X-Tenant-ID was sent more than once", field="X-Tenant-ID")
    return validation.tenant_id(values[0])


def acting_for(credential: Principal, named: str | None) -> Principal:
    """The principal a verified credential acts as, for the tenant the request named.

    A service credential acts for the named tenant (and must name one); any other acts only for
    its own tenant: naming another is FORBIDDEN, naming none means its own."""
    if credential.is_service:
        if Role.SERVICE not in credential.roles:
            raise Forbidden("a credential for every tenant needs the service role")
        if named is None:
            raise Unauthenticated("a service credential must name the tenant in X-Tenant-ID")
        return Principal(named, credential.actor, credential.roles)
    if named is not None and named != credential.tenant_id:
        raise Forbidden("the credential does not grant this tenant")
    return credential


def anonymous(tenant_id: str) -> Principal:
    """`AUTH_MODE=none`: whoever names a tenant acts for it with every role."""
    return Principal(tenant_id, "anonymous", frozenset({Role.ADMIN, Role.SERVICE}))
