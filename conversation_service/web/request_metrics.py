"""Every HTTP request is counted and timed by door and operation (in `http_door.HttpDoor`).

The door is known from the path; the operation from what the handler records in the scope
(`record_operation`: a GraphQL operation name, bounded) or, on REST, from the matched route's
template.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from conversation_service.observability.metrics import OPERATION_NAMES

_OPERATION_KEY = "cs.operation"


def record_operation(scope: Scope, name: str | None) -> None:
    """Called by the GraphQL door with the request's operation name (any caller's string)."""
    scope.setdefault("state", {})[_OPERATION_KEY] = OPERATION_NAMES.label(name)


def door_of(path: str) -> str:
    if path == "/graphql":
        return "graphql"
    if path.startswith("/api/v1/"):
        return "rest"
    return "other"


def operation_of(scope: Scope, door: str) -> str:
    recorded = scope.get("state", {}).get(_OPERATION_KEY)
    if isinstance(recorded, str):
        return recorded
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    if door == "rest" and isinstance(template, str):
        methods = getattr(route, "methods", None) or {scope.get("method", "")}
        return (
            f"{scope.get('method', '')} {template}" if scope.get("method") in methods else template
        )
    return "-"
