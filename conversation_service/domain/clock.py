"""The service's notion of now (UTC, aware), in one place so tests and rules agree."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
