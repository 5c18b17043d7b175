"""Error responses every route documents (422 is added by FastAPI itself)."""

from __future__ import annotations

from typing import Any

from conversation_service.rest.models import ErrorResponse

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown id, or an id of another tenant."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "`expected_version` did not match."}
}
