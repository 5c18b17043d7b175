"""Role rules: what each role grants (api-contract.md, "Identity and access")."""

from __future__ import annotations

import pytest

from conversation_service.domain.errors import Forbidden
from conversation_service.domain.identity import Principal, Role, anonymous


def principal(*roles: Role) -> Principal:
    return Principal("t1", "key:abc", frozenset(roles))


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.READER, Role.READER, True),
        (Role.READER, Role.WRITER, False),
        (Role.WRITER, Role.READER, True),
        (Role.WRITER, Role.ADMIN, False),
        (Role.ADMIN, Role.WRITER, True),
        (Role.ADMIN, Role.SERVICE, False),
        (Role.SERVICE, Role.WRITER, True),
        (Role.SERVICE, Role.ADMIN, False),
    ],
)
def test_role_grants(held: Role, needed: Role, allowed: bool) -> None:
    assert principal(held).allows(needed) is allowed


def test_require_raises_forbidden_naming_the_role() -> None:
    with pytest.raises(Forbidden, match="admin"):
        principal(Role.WRITER).require(Role.ADMIN)


def test_anonymous_holds_every_role() -> None:
    who = anonymous("t1")
    assert all(who.allows(role) for role in Role)
    assert who.tenant_id == "t1"
