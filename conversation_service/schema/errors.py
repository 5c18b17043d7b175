"""Every GraphQL error leaves with a typed `extensions.code`; unexpected ones are masked."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from conversation_service.adapters.db_errors import as_unavailable
from conversation_service.domain.errors import DomainError
from conversation_service.observability.metrics import GRAPHQL_ERRORS
from conversation_service.schema.limits import tag_syntax_error

log = logging.getLogger("conversation_service.graphql")

MASKED_MESSAGE = "Internal server error"


def camel_field(path: str) -> str:
    """`initial_messages.0.content` -> `initialMessages.0.content` (the GraphQL names)."""

    def camel(segment: str) -> str:
        head, *rest = segment.split("_")
        return head + "".join(p[:1].upper() + p[1:] for p in rest)

    return ".".join(camel(s) for s in path.split("."))


_VARIABLE_RE = re.compile(
    r"^Variable '\$(?P<var>\w+)' (?:has invalid value(?: at (?P<path>(?:\.\w+|\[\d+\])+))?"
    r"|of (?:required|non-null) type)"
)
_NAMED_FIELD_RE = re.compile(r"(?:required|unknown) field '(?P<name>\w+)'")


def variable_field(message: str) -> str | None:
    """The input field a variable-coercion error is about, named like domain errors name theirs
    (relative to the input object: `role`, `participants.0.id`), else the variable's name."""
    m = _VARIABLE_RE.match(message)
    if m is None:
        return None
    path = m.group("path")
    if path:
        return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    named = _NAMED_FIELD_RE.search(message)
    return named.group("name") if named else m.group("var")


def shape_error(error: GraphQLError) -> GraphQLError:
    """The error as callers see it (typed `extensions.code`, masked when unexpected), counted
    on /metrics by code."""
    shaped = _shape(error)
    code = (shaped.extensions or {}).get("code")
    GRAPHQL_ERRORS.labels(code if isinstance(code, str) and len(code) <= 40 else "OTHER").inc()
    return shaped


def _shape(error: GraphQLError) -> GraphQLError:
    error = tag_syntax_error(error)
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code}
        if original.field:
            extensions["field"] = camel_field(original.field)
        return _copy(error, original.message, extensions)
    if error.path is None or original is None or isinstance(original, GraphQLError):
        # Parse, validation and variable-coercion errors: the request itself was bad.
        if error.extensions and "code" in error.extensions:
            return error
        extensions = dict[str, object](error.extensions or {})
        extensions["code"] = "BAD_USER_INPUT"
        if isinstance(error, GraphQLSyntaxError):
            extensions["kind"] = "PARSE"
        field = variable_field(error.message)
        if field is not None:
            extensions.setdefault("field", field)
        return _copy(error, error.message, extensions)
    unavailable = as_unavailable(original) if original is not None else None
    if unavailable is not None:  # logged once per operation by error_log.py
        return _copy(error, unavailable.message, {"code": unavailable.code})
    log.error("unexpected error at %s", error.path, exc_info=original)
    return _copy(error, MASKED_MESSAGE, {"code": "INTERNAL"})


def _copy(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class TypedErrors(SchemaExtension):
    """Operation-level hook (not per field): costs nothing on the success path."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shape_error(e) for e in result.errors]
