"""Parsing and validation of GraphQL documents, shared by every door.

`prepare` parses with the token budget and validates with the schema's rule list through the
very functions (and LRU caches) Strawberry's `ParserCache` / `ValidationCache` use, so a
document parsed for the fast path or the WebSocket transport is a cache hit for Strawberry and
the other way round. `prepare_async` does the work for a new document in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from functools import lru_cache

from graphql import DocumentNode, GraphQLError
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import ParserCache, ValidationCache

from conversation_service.config import Settings
from conversation_service.schema import DOCUMENT_CACHE_SIZE, schema
from conversation_service.schema.limits import (
    MAX_QUERY_TOKENS,
    QueryLimits,
    tag_syntax_error,
    validation_rules,
)

_parse = ParserCache(maxsize=DOCUMENT_CACHE_SIZE).cached_parse_document
_validate = ValidationCache(maxsize=DOCUMENT_CACHE_SIZE).cached_validate_document
MAX_CACHED_CHARS = 100_000

Prepared = DocumentNode | list[GraphQLError]


class _PreparedCache:
    """The outcome of parsing and validating each recent (document, limits), errors included
    (the LRU caches below keep documents and validation results, not parse errors), so that
    `prepare_async` can tell a cache hit, answered inline, from work for a thread."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[tuple[str, QueryLimits], Prepared] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, QueryLimits]) -> Prepared | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, QueryLimits], value: Prepared) -> None:
        if len(key[0]) > MAX_CACHED_CHARS:
            return  # a huge document is not kept (its parse is bounded by the token budget)
        with self.lock:
            self.entries[key] = value
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)


_prepared = _PreparedCache(DOCUMENT_CACHE_SIZE)


def prepare(query: str, limits: QueryLimits | None = None) -> Prepared:
    """Parse (token budget first) and validate with the schema's rules, through the schema's
    caches: the document or its errors (shared with the WebSocket transport)."""
    limits = limits or environment_limits()
    key = (query, limits)
    found = _prepared.get(key)
    if found is not None:
        return found
    try:
        document: DocumentNode = _parse(query, max_tokens=limits.max_tokens)
    except GraphQLError as exc:
        result: Prepared = [tag_syntax_error(exc)]
    else:
        errors = _validate(schema._schema, document, validation_rules(limits))
        result = list(errors) if errors else document
    _prepared.put(key, result)
    return result


def is_parse_failure(prepared: Prepared) -> bool:
    """The document could not be parsed (syntax, or over the token budget)."""
    return isinstance(prepared, list) and any(
        isinstance(e, GraphQLSyntaxError) or (e.extensions or {}).get("limit") == MAX_QUERY_TOKENS
        for e in prepared
    )


async def prepare_async(query: str, limits: QueryLimits | None = None) -> Prepared:
    """`prepare`, with the work for a new document done in a thread: parsing and validating
    the largest document the token budget lets through takes 5-40 ms of CPU (measured on a
    loaded 2-core machine); in a thread the event loop gets the GIL back every switch
    interval (5 ms) instead of waiting for the whole of it."""
    limits = limits or environment_limits()
    found = _prepared.get((query, limits))
    if found is not None:
        return found
    return await asyncio.to_thread(prepare, query, limits)


@lru_cache(maxsize=1)
def environment_limits() -> QueryLimits:
    """The limits of this process's environment, for callers without a request context (the
    WebSocket door's first check); doors with one pass `limits_of(context)`."""
    return QueryLimits.of(Settings.from_env())
