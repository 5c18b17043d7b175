"""Hooks for the schemathesis command-line run of tests/rest/test_fuzz.py.

Two limits cannot be written in JSON Schema: `from_date` must not be after `to_date` (422
otherwise, as documented on `to_date`), and the subject export takes exactly one of `user_id`
and `customer_email` (400 otherwise, as documented). Generated queries that break it are not "valid" data,
so they are filtered out instead of being reported as valid requests rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@schemathesis.hook
def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
    if not query:
        return True
    start, end = _instant(query.get("from_date")), _instant(query.get("to_date"))
    return start is None or end is None or start <= end


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """The subject export takes exactly one of its two keys: a generated request with both
    keeps `user_id`, one with neither gets one (every generation phase passes here)."""
    if not str(case.operation.path).endswith("/subjects/export"):
        return
    query = dict(case.query or {})
    if "user_id" in query and "customer_email" in query:
        del query["customer_email"]
    elif "user_id" not in query and "customer_email" not in query:
        query["user_id"] = "fuzzed-subject"
    case.query = query
