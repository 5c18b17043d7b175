"""GraphQL requires `operationName` when a document holds several operations; Strawberry would
silently run the first one. `operation_name_error` is the one check (the fast path uses it
too); `RequireOperationName` turns it into a request error on Strawberry's path."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

MISSING_OPERATION_NAME = "Must provide operation name if query contains multiple operations."


def operation_name_error(document: DocumentNode, operation_name: str | None) -> GraphQLError | None:
    if operation_name is not None:
        return None
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    return GraphQLError(MISSING_OPERATION_NAME) if operations > 1 else None


class RequireOperationName(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        # Listed after ValidationCache, so this runs once the cached validation has set its
        # result (and before Strawberry looks at the errors).
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            error = operation_name_error(document, ctx._provided_operation_name)
            if error is not None:
                ctx.pre_execution_errors = [error]
        yield
