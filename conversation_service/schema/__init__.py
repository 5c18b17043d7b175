"""The GraphQL schema: types, inputs and roots; `schema.graphql` is its printed form."""

from __future__ import annotations

from functools import partial

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from conversation_service.schema.error_log import Schema
from conversation_service.schema.errors import TypedErrors
from conversation_service.schema.limits import QueryLimitsExtension
from conversation_service.schema.mutation import Mutation
from conversation_service.schema.operation_name import RequireOperationName
from conversation_service.schema.query import Query
from conversation_service.schema.subscription import Subscription

#: Parse and validate each distinct document once (~4 ms saved per nested read); the fast path
#: and the WebSocket transport read the same caches.
DOCUMENT_CACHE_SIZE = 1024


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Order matters for `on_validate`: the cached validation sets its result first, then
        # the checks that need the request (operation name, cost with variables) run.
        extensions=[
            TypedErrors,
            partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
            partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
            RequireOperationName,
            QueryLimitsExtension,
        ],
    )


schema = build_schema()


def export_sdl() -> str:
    return schema.as_str() + "\n"
