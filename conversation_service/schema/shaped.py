"""The fast path's first tier: a compiled query whose every field is a column value (or
`__typename`) is answered with JSON that PostgreSQL builds in one statement, and forwarded as
bytes (`orjson.Fragment`).

It reads the plan `fast_path` compiled (so the document was validated with the schema's rules,
the request limits checked, the arguments coerced) and only describes it (`domain/shapes.py`);
the arguments are validated by the same domain rules as the resolvers' (`shaped_reads`). Shapes
covered: `conversations(...) { nodes { <columns> messages(...) { nodes { <columns> } } } }` and
`messages(conversationId, ...) { nodes { <columns> } }`. Anything else (pageInfo, cursors, JSON
or time fields, other relations, a `fromTimestamp` window, SQLite) is not shaped: the plan runs
as before. FAST_PATH_VERIFY compares these answers with Strawberry's like every other.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
)

from conversation_service.domain import shaped_reads
from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.enums import SortOrder
from conversation_service.domain.pagination import ConversationPage, MessageWindow
from conversation_service.domain.shapes import (
    Column,
    ConversationShape,
    Kind,
    MessagesShape,
    window_of,
)
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema

#: Output fields that are the column of the same name, unchanged (Conversation.totalTokens
#: saturates, JSON and time fields are formatted by Python: not listed, not shaped).
COLUMNS: dict[str, frozenset[str]] = {
    "Message": frozenset(
        {
            "id",
            "conversation_id",
            "seq",
            "role",
            "content",
            "content_type",
            "sender_id",
            "agent_id",
            "model_used",
            "token_count",
            "processing_time_ms",
            "tool_call_id",
            "client_message_id",
        }
    ),
    "Conversation": frozenset(
        {
            "id",
            "tenant_id",
            "user_id",
            "agent_id",
            "session_id",
            "title",
            "status",
            "message_count",
            "last_seq",
            "version",
        }
    ),
}


class NotShaped(Exception):
    """The plan asks for something this tier does not build: run the plan instead."""


def _const(key: str, value: str) -> Column:
    return Column(key, "", "const", (("", value),))


def _column(plan: Any, fp: Any) -> Column:
    if fp.name == "__typename":
        return _const(fp.key, plan.type_name)
    if fp.attr is None or fp.attr not in COLUMNS.get(plan.type_name, ()) or fp.list_depth:
        raise NotShaped(fp.name)
    gql_type = schema._schema.get_type(plan.type_name)
    assert isinstance(gql_type, GraphQLObjectType)
    inner = gql_type.fields[fp.name].type
    if isinstance(inner, GraphQLNonNull):
        inner = inner.of_type
    kind: Kind
    names: tuple[tuple[str, str], ...] = ()
    if inner is GraphQLString or inner is GraphQLID:
        kind = "text"
    elif inner is GraphQLInt:
        kind = "int"
    elif isinstance(inner, GraphQLEnumType):
        kind = "enum"
        names = tuple((str(v.value), name) for name, v in inner.values.items())
    else:
        raise NotShaped(fp.name)
    return Column(fp.key, fp.attr, kind, names)


def _message_connection(fp: Any) -> MessagesShape:
    """`messages(...) { nodes { ... } }` (Conversation's field or the root field)."""
    a = fp.args
    window = window_of(
        MessageWindow(
            a.get("first"),
            a.get("after"),
            a.get("last"),
            a.get("before"),
            a.get("from_timestamp"),
            a.get("limit"),
        )
    )
    if window is None:
        raise NotShaped("fromTimestamp")
    conn = fp.sub
    connection: list[Column | str] = []
    nodes = None
    for f in conn.fields:
        if f.name == "__typename":
            connection.append(_const(f.key, conn.type_name))
        elif f.name == "nodes" and f.sub is not None:
            connection.append(f.key)
            nodes = f.sub
        else:
            raise NotShaped(f.name)
    if nodes is None:
        raise NotShaped("no nodes")
    fields = tuple(_column(nodes, f) for f in nodes.fields)
    return MessagesShape(fp.key, window, tuple(connection), fields)


def _conversation(plan: Any) -> ConversationShape:
    fields: list[Column | MessagesShape] = []
    for fp in plan.fields:
        if fp.name == "messages" and fp.resolver is not None and fp.sub is not None:
            fields.append(_message_connection(fp))
        else:
            fields.append(_column(plan, fp))
    return ConversationShape(tuple(fields))


async def _conversations(fp: Any, context: GraphQLContext) -> dict[str, Any] | None:
    a = fp.args
    flt = a.get("filter")
    query = flt.to_query() if flt is not None else ConversationQuery()
    order = a.get("order", SortOrder.DESC)
    page = ConversationPage(
        a.get("page"), a.get("page_size"), a.get("first"), a.get("after"), order == SortOrder.DESC
    )
    conn = fp.sub
    out: dict[str, Any] = {}
    shape = None
    for f in conn.fields:
        if f.name == "__typename":
            out[f.key] = conn.type_name
        elif f.name == "nodes" and f.sub is not None:
            shape = _conversation(f.sub)
            out[f.key] = None
        else:
            raise NotShaped(f.name)
    if shape is None:
        raise NotShaped("no nodes")
    found = await context.db.query(
        context.tenant_id, shaped_reads.conversations_json, query, page, shape
    )
    if found is None:
        return None
    for f in conn.fields:
        if f.name == "nodes":
            out[f.key] = orjson.Fragment(found)
    return out


async def _messages(fp: Any, context: GraphQLContext) -> Any:
    shape = _message_connection(fp)
    found = await context.db.query(
        context.tenant_id, shaped_reads.messages_json, fp.args["conversation_id"], shape
    )
    return orjson.Fragment(found) if found is not None else None


async def shaped_data(plan: Any, context: GraphQLContext) -> dict[str, Any] | None:
    """The query's `data` built by the database, or None (run the plan)."""
    if len(plan.fields) != 1:
        return None
    fp = plan.fields[0]
    if fp.sub is None or fp.resolver is None or fp.resolver.is_method:
        return None
    try:
        if fp.name == "conversations":
            value = await _conversations(fp, context)
        elif fp.name == "messages":
            value = await _messages(fp, context)
        else:
            return None
    except NotShaped:
        return None
    return None if value is None else {fp.key: value}
