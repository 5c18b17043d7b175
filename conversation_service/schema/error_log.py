"""Logging of GraphQL errors that an attacker cannot amplify.

Strawberry's default logs every error at ERROR with its traceback and the query's source: one
40 KB request with 1,000 bad aliases wrote 21.5 MB of log. Here client errors (parse,
validation, bad input, not found, limits: anything with a typed domain code or no original
exception) make at most one INFO line per operation, with counts, the first message and the
query cut to `MAX_LOGGED_CHARS`; an unavailable dependency one WARNING line. Unexpected errors
stay at ERROR with their traceback, logged where they are masked (`errors.shape_error`).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from conversation_service.adapters.db_errors import as_unavailable
from conversation_service.domain.errors import DomainError

log = logging.getLogger("conversation_service.graphql")

MAX_LOGGED_CHARS = 200


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "..."


def _kind(error: GraphQLError) -> str:
    """`client`, `unavailable` or `unexpected`."""
    original = error.original_error
    if original is not None and as_unavailable(original) is not None:
        return "unavailable"  # checked first: `Unavailable` is a DomainError too
    if original is None or isinstance(original, GraphQLError | DomainError):
        return "client"
    return "unexpected"


def _code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, DomainError):
        return original.code
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else "BAD_USER_INPUT"


def log_errors(
    errors: list[GraphQLError],
    context: ExecutionContext | None,
    *,
    query: str | None = None,
    operation: str | None = None,
) -> None:
    """One line per kind of error; `query`/`operation` when there is no execution context (a
    document refused before Strawberry saw it, e.g. by the token limit)."""
    kinds: dict[str, list[GraphQLError]] = {}
    for error in errors:
        kinds.setdefault(_kind(error), []).append(error)
    if context is not None:
        query, operation = context.query, context.operation_name
    query = _cut(query)
    client = kinds.get("client")
    if client:
        codes = Counter(_code(e) for e in client)
        log.info(
            "graphql client error(s) in %s: %s; first: %s; query: %s",
            operation or "anonymous operation",
            ", ".join(f"{code} x{n}" for code, n in codes.most_common()),
            _cut(client[0].message),
            query,
        )
    unavailable = kinds.get("unavailable")
    if unavailable:
        first: Any = unavailable[0].original_error
        log.warning(
            "graphql operation %s: a dependency is unavailable (%d error(s), first %s: %s)",
            operation or "anonymous operation",
            len(unavailable),
            type(first).__name__,
            _cut(str(first)),
        )


class Schema(strawberry.Schema):
    """Strawberry's schema with `log_errors` instead of one ERROR line per error."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)
