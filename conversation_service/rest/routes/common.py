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

#: A create that found its earlier result (same `id` / `client_message_id`) says so in a header.
REPLAYED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Created, or the earlier result of the same idempotent request.",
        "headers": {
            "Idempotent-Replayed": {
                "description": "`true` when nothing was written: this is the stored result "
                "of an earlier request with the same idempotency key; absent otherwise.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
}
