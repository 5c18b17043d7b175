"""The role an operation needs, checked once per operation by every GraphQL door (HTTP, batch
items, persisted queries, WebSocket): queries and subscriptions need `reader`, mutations
`writer`. Fields that need more (admin data) say so with `permission_classes=[AdminOnly]` (the
access tests find them that way) or call `info.context.require(Role.ADMIN)` themselves.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import DocumentNode, OperationType, get_operation_ast
from strawberry.permission import BasePermission

from conversation_service.domain.identity import Principal, Role

NEEDS = {
    OperationType.QUERY: Role.READER,
    OperationType.SUBSCRIPTION: Role.READER,
    OperationType.MUTATION: Role.WRITER,
}


def operation_role(document: DocumentNode, operation_name: str | None) -> Role | None:
    """None when the document names no single operation (execution answers that error)."""
    operation = get_operation_ast(document, operation_name)
    return NEEDS[operation.operation] if operation is not None else None


def check_operation(
    principal: Principal | None, document: DocumentNode, operation_name: str | None
) -> None:
    """Raises FORBIDDEN when `principal` lacks the operation's role (None: AUTH_MODE=none)."""
    if principal is None:
        return
    role = operation_role(document, operation_name)
    if role is not None:
        principal.require(role)


class AdminOnly(BasePermission):
    """A field for admins only: FORBIDDEN for every other role (the fast path leaves fields
    with permission classes to Strawberry)."""

    message = "this field needs the admin role"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        info.context.require(Role.ADMIN)  # raises FORBIDDEN
        return True
