"""Scalars. `JSON` is Strawberry's at run time and `Any` for the type checker (it is any JSON);
`Int` outputs that sum many counts saturate at GraphQL's 32-bit bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    JSON: TypeAlias = Any
else:
    from strawberry.scalars import JSON

#: GraphQL's `Int` is a signed 32-bit integer (the spec, and graphql-core, refuse larger values).
GRAPHQL_INT_MAX = 2**31 - 1


def saturated_int(value: int) -> int:
    """A sum exposed as `Int`: 64-bit in storage, capped at 2^31-1 on output. Each input count
    is at most 2^31-1, so only sums can go beyond; answering INTERNAL for them would make every
    read of the conversation fail. The REST door answers the exact figure."""
    return value if value <= GRAPHQL_INT_MAX else GRAPHQL_INT_MAX


__all__ = ["GRAPHQL_INT_MAX", "JSON", "saturated_int"]
