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


class Forbidden(DomainError):
    """The credential is valid but does not grant this tenant or this role."""

    code = "FORBIDDEN"


class WriteConflict(Exception):
    """A write lost a race on a unique key (a concurrent add of the same id, a first write of
    the same state key): the transaction is spoiled, and running the whole operation again
    sees the winner's row. Not a `DomainError`: inside a caller's transaction (the worker) it
    is a transient failure the caller retries. `Database.run` retries it when `retryable`,
    and after the last attempt raises `final` when given."""

    def __init__(
        self, message: str, *, retryable: bool = True, final: DomainError | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.final = final
