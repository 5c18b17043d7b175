"""Typed failures of the domain; every door maps `code` to its own shape (GraphQL, HTTP, action reply)."""

from __future__ import annotations


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Input broke a rule; `field` names the offending input field (camelCase path)."""

    code = "BAD_USER_INPUT"


class NotFound(DomainError):
    """Unknown id, or an id of another tenant: the two are indistinguishable on purpose."""

    code = "NOT_FOUND"


class Conflict(DomainError):
    """A compare-and-set lost (version mismatch) or a duplicate that cannot be merged."""

    code = "CONFLICT"


class Unauthenticated(DomainError):
    """No valid tenant on the request."""

    code = "UNAUTHENTICATED"
