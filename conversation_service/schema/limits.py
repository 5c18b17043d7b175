"""Query limits: one list of validation rules for every execution path.

Strawberry's HTTP execution, the compiled fast path and the WebSocket transport all validate
with `validation_rules(limits)` (graphql-core's specified rules, Strawberry's depth and alias
validators, our cost rule) and parse with `max_tokens`, so a rule added here applies to all of
them. `QueryLimitsExtension` puts the limits of the request's settings on Strawberry's execution
context; Strawberry's own `QueryDepthLimiter` / `MaxAliasesLimiter` / `MaxTokensLimiter`
extensions take fixed numbers when the schema is built and leave their errors without a code,
so their validators are used here directly and their errors tagged.

Every refusal carries `extensions.code` `BAD_USER_INPUT` and `extensions.limit` naming the
limit. The token limit stops the parser itself after `MAX_QUERY_TOKENS` tokens, so a large
document is refused before the work that grows with it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
    specified_rules,
)
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from conversation_service.schema.cost import UNKNOWN, operation_cost

LIMIT_CODE = "BAD_USER_INPUT"
MAX_QUERY_DEPTH = "MAX_QUERY_DEPTH"
MAX_ALIASES = "MAX_ALIASES"
MAX_QUERY_TOKENS = "MAX_QUERY_TOKENS"
MAX_QUERY_COST = "MAX_QUERY_COST"


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The contract's defaults (api-contract.md, "Limits")."""

    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    max_cost: int = 5000

    @classmethod
    def of(cls, settings: Any) -> QueryLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            max_cost=settings.max_query_cost,
        )


DEFAULT_LIMITS = QueryLimits()


def limits_of(context: Any) -> QueryLimits:
    """The limits of a request's settings (the GraphQL context's container), else defaults."""
    settings = getattr(getattr(context, "container", None), "settings", None)
    return QueryLimits.of(settings) if settings is not None else DEFAULT_LIMITS


def limit_error(message: str, limit: str, error: GraphQLError | None = None) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes if error is not None else None,
        source=error.source if error is not None else None,
        positions=error.positions if error is not None else None,
        extensions={"code": LIMIT_CODE, "limit": limit},
    )


def tag_syntax_error(error: GraphQLError) -> GraphQLError:
    """graphql-core's token budget error, tagged as the MAX_QUERY_TOKENS limit."""
    if isinstance(error, GraphQLSyntaxError) and "tokens. Parsing aborted" in error.message:
        return limit_error(error.message, MAX_QUERY_TOKENS, error)
    return error


def _tagged(rule: type[ASTValidationRule], limit: str) -> type[ValidationRule]:
    """`rule` (which does its work when constructed), its errors tagged with `limit`."""

    class Tagged(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            report = context.on_error

            def on_error(error: GraphQLError) -> None:
                report(limit_error(error.message, limit, error))

            context.on_error = on_error  # type: ignore[method-assign]
            try:
                rule(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    Tagged.__name__ = Tagged.__qualname__ = f"{rule.__name__}{limit.title().replace('_', '')}"
    return Tagged


def cost_error(cost: int, max_cost: int) -> GraphQLError:
    return limit_error(
        f"Query cost {cost} exceeds the maximum of {max_cost} (estimated rows)", MAX_QUERY_COST
    )


def _cost_rule(max_cost: int) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        """Refuses an operation whose estimate exceeds `max_cost` with page sizes from
        variables counted at their maximum, unless the request's variables may still bring
        it under (then `request_limit_errors` decides, per request)."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            estimate = operation_cost(self.context.schema, self.context.document, node)
            if estimate.cost > max_cost and not estimate.uses_variables:
                self.report_error(cost_error(estimate.cost, max_cost))

    return QueryCostRule


@lru_cache(maxsize=16)
def validation_rules(limits: QueryLimits) -> tuple[type[ASTValidationRule], ...]:
    """The one rule list (cached: the same tuple per limits, so validation caches hit)."""
    return (
        *specified_rules,
        _tagged(depth_validator(limits.max_depth, None), MAX_QUERY_DEPTH),
        _tagged(aliases_validator(limits.max_aliases), MAX_ALIASES),
        _cost_rule(limits.max_cost),
    )


class _NeedsVariables:
    """Per (query text, operation, max cost): does the cost depend on the request's variables
    and exceed the limit at their worst? Keyed by the query text, whose hash Python caches
    (a DocumentNode hashes its whole tree: ~28 us for the nested read)."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[tuple[str, str | None, int], bool] = OrderedDict()
        self.lock = threading.Lock()

    def __call__(
        self,
        schema: Any,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        operation_name: str | None,
        max_cost: int,
    ) -> bool:
        key = (query, operation_name, max_cost)
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                return found
        worst = operation_cost(schema, document, operation, UNKNOWN)
        needs = worst.uses_variables and worst.cost > max_cost
        with self.lock:
            self.entries[key] = needs
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
        return needs


_needs_variables = _NeedsVariables()


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def request_limit_errors(
    schema: Any,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
) -> list[GraphQLError]:
    """Checks that need the request, not only the document: the cost with the request's
    variables, for an operation whose page sizes come from variables and whose worst case
    exceeds the limit (the common case costs one dictionary look-up, ~2 us)."""
    operation = _operation(document, operation_name)
    if operation is None or not _needs_variables(
        schema, query, document, operation, operation_name, limits.max_cost
    ):
        return []
    estimate = operation_cost(schema, document, operation, variables or {})
    if estimate.cost > limits.max_cost:
        return [cost_error(estimate.cost, limits.max_cost)]
    return []


class QueryLimitsExtension(SchemaExtension):
    """Applies the request's limits to Strawberry's execution: token budget for the parser,
    the rule list for validation, and (listed after `ValidationCache`) the per-request cost
    check before anything executes."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        limits = limits_of(ctx.context)
        ctx.parse_options["max_tokens"] = limits.max_tokens
        ctx.validation_rules = validation_rules(limits)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            errors = request_limit_errors(
                ctx.schema._schema,
                ctx.query or "",
                document,
                ctx._provided_operation_name,
                ctx.variables,
                limits_of(ctx.context),
            )
            if errors:
                ctx.pre_execution_errors = errors
        yield


__all__ = [
    "DEFAULT_LIMITS",
    "QueryLimits",
    "QueryLimitsExtension",
    "limits_of",
    "request_limit_errors",
    "tag_syntax_error",
    "validation_rules",
]
