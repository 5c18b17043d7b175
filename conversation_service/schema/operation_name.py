"""GraphQL requires `operationName` when a document holds several operations; Strawberry would
silently run the first one. This operation-level hook turns that into a request error."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension


class RequireOperationName(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        # Listed after ValidationCache, so this runs once the cached validation has set its
        # result (and before Strawberry looks at the errors).
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1 and ctx._provided_operation_name is None:
                ctx.pre_execution_errors = [
                    GraphQLError(
                        "Must provide operation name if query contains multiple operations."
                    )
                ]
        yield
