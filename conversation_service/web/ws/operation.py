"""A subscription operation bound to its tenant and variables, and the one place where an
operation's failure becomes GraphQL errors (shared by groups and solo subscriptions)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.execution import execute_subscription_event
from graphql.execution.values import get_argument_values
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from conversation_service.domain.errors import DomainError, Forbidden
from conversation_service.domain.identity import Principal
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.resolvers.subscriptions import open_feed
from conversation_service.schema import schema
from conversation_service.schema.access import check_operation
from conversation_service.schema.documents import prepare_async
from conversation_service.schema.errors import shape_error
from conversation_service.schema.limits import QueryLimits

log = logging.getLogger(__name__)

ErrorList = list[dict[str, Any]]


class GraphQLErrors(Exception):
    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid request")
        self.errors = errors


def errors_payload(errors: list[GraphQLError]) -> ErrorList:
    return [dict(shape_error(e).formatted) for e in errors]


def bad_input(message: str, code: str = "BAD_USER_INPUT") -> ErrorList:
    return [{"message": message, "extensions": {"code": code}}]


def failure_payload(exc: Exception) -> ErrorList:
    """The errors a subscriber sees when its feed fails (details of the unexpected only in logs)."""
    if isinstance(exc, DomainError):
        return errors_payload([GraphQLError(exc.message, original_error=exc)])
    if isinstance(exc, GraphQLErrors):
        return errors_payload(exc.errors)
    log.error("subscription failed", exc_info=exc)
    return errors_payload([GraphQLError("Internal server error")])


@dataclass
class Prepared:
    """A validated subscription operation, bound to a tenant and variables."""

    tenant: str
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None
    field: str
    args: dict[str, Any]
    #: who subscribed (None under AUTH_MODE=none); fields that need a role ask it
    principal: Principal | None = None

    async def stream(
        self, container: Any, resume: dict[str, Any] | None = None
    ) -> AsyncGenerator[tuple[Any, str], None]:
        """(record, serialised execution result) per event of the feed."""
        ctx = GraphQLContext(
            container=container, raw_tenant_id=self.tenant, principal=self.principal
        )
        built = StrawberryGraphQLCoreExecutionContext.build(
            schema._schema,
            self.document,
            context_value=ctx,
            raw_variable_values=self.variables,
            operation_name=self.operation_name,
        )
        if isinstance(built, list):
            raise GraphQLErrors(built)
        feed, to_type = open_feed(ctx, self.field, self.args, resume)
        try:
            async for record in feed:
                ctx.loaders.clear()
                result = execute_subscription_event(built.build_per_event_executor(to_type(record)))
                if isawaitable(result):
                    result = await result
                body: dict[str, Any] = {"data": result.data}
                if result.errors:
                    body["errors"] = errors_payload(list(result.errors))
                yield record, orjson.dumps(body).decode()
        finally:
            await feed.aclose()  # type: ignore[attr-defined]


@dataclass
class OneShot:
    """A query or mutation sent over the socket: one result, then complete."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    principal: Principal | None = None


@dataclass
class Subscription:
    op: Prepared
    #: identical subscriptions (same key) share one group and one execution per event
    group_key: tuple[Any, ...]


async def parse_operation(
    tenant: str, payload: Any, limits: QueryLimits, principal: Principal | None = None
) -> Subscription | OneShot | ErrorList:
    """What a `subscribe`/`start` payload asks for, or the errors that refuse it (a role the
    connection's principal lacks among them). A new document is parsed and validated off the
    event loop, with the connection's limits."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return bad_input("payload.query must be a string")
    query: str = payload["query"]
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return bad_input("variables must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        return bad_input("operationName must be a string")
    document = await prepare_async(query, limits)
    if isinstance(document, list):
        return errors_payload(document)
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return bad_input("Unknown or ambiguous operation")
    try:
        check_operation(principal, document, operation_name)
    except Forbidden as exc:
        return errors_payload([GraphQLError(exc.message, original_error=exc)])
    if operation.operation != OperationType.SUBSCRIPTION:
        return OneShot(query, variables, operation_name, principal)
    try:
        op = _bind(tenant, document, operation, operation_name, variables)
    except GraphQLErrors as exc:
        return errors_payload(exc.errors)
    op.principal = principal
    key = (
        tenant,
        # members of one group share one execution per event: only of equal roles
        tuple(sorted(principal.roles)) if principal is not None else None,
        query,
        operation_name,
        orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
    )
    return Subscription(op, key)


def _bind(
    tenant: str,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> Prepared:
    built = StrawberryGraphQLCoreExecutionContext.build(
        schema._schema, document, raw_variable_values=variables, operation_name=operation_name
    )
    if isinstance(built, list):
        raise GraphQLErrors(built)
    node = operation.selection_set.selections[0]
    assert isinstance(node, FieldNode)
    subscription_type = schema._schema.subscription_type
    assert subscription_type is not None
    field_def = subscription_type.fields[node.name.value]
    try:
        args = get_argument_values(field_def, node, built.variable_values)
    except GraphQLError as exc:
        raise GraphQLErrors([exc]) from exc
    return Prepared(tenant, document, operation_name, variables, node.name.value, args)


async def execute_once(container: Any, tenant: str | None, one: OneShot) -> dict[str, Any]:
    """The single result of a query or mutation sent over the socket."""
    ctx = GraphQLContext(container=container, raw_tenant_id=tenant, principal=one.principal)
    result = await schema.execute(
        one.query,
        variable_values=one.variables,
        context_value=ctx,
        operation_name=one.operation_name,
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = errors_payload(list(result.errors))
    return body


async def run_stream(
    op: Prepared,
    container: Any,
    resume: dict[str, Any] | None,
    on_event: Callable[[Any, str], Awaitable[bool]],
    on_failure: Callable[[ErrorList], None],
    on_end: Callable[[], None],
) -> None:
    """Feed every event to `on_event` (False stops); a failure or the end of the feed is
    reported once. Cancellation propagates untouched."""
    try:
        async with contextlib.aclosing(op.stream(container, resume)) as events:
            async for record, payload in events:
                if not await on_event(record, payload):
                    return
    except Exception as exc:  # CancelledError is a BaseException: it propagates
        on_failure(failure_payload(exc))
    else:
        on_end()
