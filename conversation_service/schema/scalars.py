"""Scalars. `JSON` is Strawberry's at run time and `Any` for the type checker (it is any JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    JSON: TypeAlias = Any
else:
    from strawberry.scalars import JSON

__all__ = ["JSON"]
