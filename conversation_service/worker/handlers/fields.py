"""Typed reads of an action's `data`: a wrong type is a ValidationFailed naming the field."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from conversation_service.domain.errors import ValidationFailed


def opt_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    return value


def req_str(data: dict[str, Any], name: str) -> str:
    value = opt_str(data, name)
    if value is None or value == "":
        raise ValidationFailed(f"{name} is required", field=name)
    return value


def opt_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} must be an integer", field=name)
    return value


def opt_bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be a boolean", field=name)
    return value


def opt_dict(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed(f"{name} must be an object", field=name)
    return value


def opt_list(data: dict[str, Any], name: str) -> list[Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationFailed(f"{name} must be a list", field=name)
    return value


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], raw: str, field: str) -> E:
    """A lowercase enum value (case-insensitive), or a validation error naming the choices."""
    try:
        return enum(raw.lower())
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ValidationFailed(f"{field} must be one of {choices}", field=field) from None
