"""Input limits, checked before anything is written so a bad input never writes half a change."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from conversation_service.domain.errors import ValidationFailed

MAX_CONTENT_CHARS = 100_000
MAX_TAGS = 50
MAX_TAG_CHARS = 64
MAX_JSON_BYTES = 64 * 1024
MAX_ID_CHARS = 255
MAX_TITLE_CHARS = 500
MAX_CONTENT_TYPE_CHARS = 64
MAX_STATE_KEY_CHARS = 255
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600
#: Largest count one input field accepts (token counts, durations, versions): GraphQL's `Int` is
#: a signed 32-bit integer, so every door accepts what every door can answer.
MAX_INT = 2**31 - 1
MAX_PARTICIPANTS = 100
MAX_SOURCES = 100
TENANT_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_PRINTABLE_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")


def tenant_id(value: str | None) -> str:
    from conversation_service.domain.errors import Unauthenticated

    if value is None or not TENANT_RE.match(value):
        raise Unauthenticated(
            "X-Tenant-ID is required: 1-64 characters of letters, digits, '_', '.', ':' or '-'"
        )
    return value


def uuid_id(value: str, field: str) -> str:
    """A well-formed UUID, returned in canonical lowercase form."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationFailed(f"{field} must be a UUID", field=field)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationFailed(f"{field} must be a UUID", field=field) from None


def optional_text(value: str | None, field: str, max_chars: int = MAX_ID_CHARS) -> str | None:
    if value is None:
        return None
    return text(value, field, max_chars)


def text(value: str, field: str, max_chars: int = MAX_ID_CHARS) -> str:
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise ValidationFailed(f"{field} must be 1-{max_chars} characters", field=field)
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def identifier(value: str | None, field: str) -> str | None:
    """Free-form external ids (user, agent, session...): printable, 1-255 chars."""
    if value is None:
        return None
    text(value, field)
    if not _PRINTABLE_RE.match(value):
        raise ValidationFailed(f"{field} must not contain control characters", field=field)
    return value


def content(value: str, field: str = "content") -> str:
    if not isinstance(value, str) or value.strip() == "":
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(value) > MAX_CONTENT_CHARS:
        raise ValidationFailed(
            f"{field} must be at most {MAX_CONTENT_CHARS} characters", field=field
        )
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    return value


def tags(values: list[str], field: str = "tags") -> list[str]:
    if len(values) > MAX_TAGS:
        raise ValidationFailed(f"{field} may hold at most {MAX_TAGS} tags", field=field)
    out: list[str] = []
    for tag in values:
        if not isinstance(tag, str) or not (1 <= len(tag) <= MAX_TAG_CHARS):
            raise ValidationFailed(f"each tag must be 1-{MAX_TAG_CHARS} characters", field=field)
        if not _PRINTABLE_RE.match(tag):
            raise ValidationFailed("tags must not contain control characters", field=field)
        if tag not in out:
            out.append(tag)
    return out


def json_document(value: Any, field: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Any JSON value up to `max_bytes` once serialised; rejects NUL (PostgreSQL cannot store it)."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        raise ValidationFailed(f"{field} must be JSON", field=field) from None
    if len(encoded) > max_bytes:
        raise ValidationFailed(f"{field} must be at most {max_bytes} bytes as JSON", field=field)
    if b"\\u0000" in encoded:
        raise ValidationFailed(f"{field} must not contain NUL characters", field=field)
    # orjson writes inf and nan as null: without this check they would be stored as null.
    # Only documents that serialise to a `null` somewhere can hold one, so most skip the walk.
    if b"null" in encoded and _holds_non_finite(value):
        raise ValidationFailed(f"{field} must not contain infinite or NaN numbers", field=field)
    return value


def _holds_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def finite(value: float | None, field: str) -> float | None:
    """A float input (GraphQL `Float`, JSON number) that can be stored and read back as sent."""
    try:
        finite_value = value is None or math.isfinite(value)
    except OverflowError:  # an integer beyond float range
        finite_value = False
    if not finite_value:
        raise ValidationFailed(f"{field} must be a finite number", field=field)
    return value


def json_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be a JSON object", field=field)
    json_document(value, field)
    return value


def optional_json_object(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return json_object(value, field)


def non_negative(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (0 <= value <= MAX_INT):
        raise ValidationFailed(f"{field} must be between 0 and {MAX_INT}", field=field)
    return value


def positive(value: int | None, field: str, maximum: int = MAX_INT) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (1 <= value <= maximum):
        raise ValidationFailed(f"{field} must be between 1 and {maximum}", field=field)
    return value


def utc_iso(value: Any, field: str) -> str | None:
    """A datetime or ISO-8601 string, stored as an aware UTC ISO string (naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(f"{field} must be an ISO-8601 date-time", field=field) from None
    if not isinstance(value, datetime):
        raise ValidationFailed(f"{field} must be an ISO-8601 date-time", field=field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat())


def participants(values: list[dict[str, Any]], field: str = "participants") -> list[dict[str, Any]]:
    if len(values) > MAX_PARTICIPANTS:
        raise ValidationFailed(f"{field} may hold at most {MAX_PARTICIPANTS}", field=field)
    out: list[dict[str, Any]] = []
    for p in values:
        if not isinstance(p, dict):
            raise ValidationFailed(f"{field} items must be objects", field=field)
        pid = p.get("id")
        kind = p.get("kind")
        if kind is None:
            kind = "user"
        if not isinstance(pid, str) or not pid:
            raise ValidationFailed(f"{field}.id is required", field=f"{field}.id")
        identifier(pid, f"{field}.id")
        identifier(kind, f"{field}.kind")
        display = p.get("display_name")
        optional_text(display, f"{field}.display_name", MAX_TITLE_CHARS)
        joined = utc_iso(p.get("joined_at"), f"{field}.joined_at")
        out.append({"id": pid, "kind": kind, "display_name": display, "joined_at": joined})
    json_document(out, field)
    return out
