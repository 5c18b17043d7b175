"""SQL that builds a read's JSON answer in PostgreSQL (the descriptions are `domain/shapes.py`).

Compact JSON by string concatenation (`json_build_object` writes `"k" : v` with spaces and
jsonb reorders keys), strings through `to_json` (the escaping orjson applies to the same text),
lists with `string_agg(... ORDER BY ...)`. The message windows are the exact seq ranges of
`message_slices` (seq is gapless), computed from each conversation's `last_seq` in the same
statement.

Every value of a request (tenant, filters, window bounds, page) is a named bind parameter, so a
statement depends only on the request's structure: it is built and compiled once per
structure (`lru_cache`) and run on the raw driver (building it costs ~1 ms of SQLAlchemy, more
than the whole answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, reduce
from typing import Any

import orjson
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import ColumnElement

from conversation_service.domain.commands import ConversationQuery
from conversation_service.domain.shapes import Column, ConversationShape, MessagesShape
from conversation_service.models import conversations, messages

_NULL = "'null'"
_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
#: ConversationQuery fields shaped here (equality and ranges); tag and metadata filters are not
SIMPLE_FILTERS = ("user_id", "agent_id", "session_id", "status", "from_date", "to_date")


def sql_text(value: str) -> ColumnElement[str]:
    """A constant SQL string (quoted here: the texts are JSON built from schema names)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def _concat(parts: list[ColumnElement[Any]]) -> ColumnElement[str]:
    return reduce(lambda a, b: a.op("||", return_type=Text)(b), parts)


def _value(col: ColumnElement[Any] | None, spec: Column) -> ColumnElement[str]:
    """`col` written as JSON (`const` columns have none)."""
    null = literal_column(_NULL, Text)
    if spec.kind == "const" or col is None:
        return sql_text(orjson.dumps(spec.names[0][1]).decode())
    if spec.kind == "text":
        return func.coalesce(cast(func.to_json(col), Text), null)
    if spec.kind == "enum":
        whens = [(col == sql_text(v), sql_text(orjson.dumps(n).decode())) for v, n in spec.names]
        return case(*whens, else_=null)
    return func.coalesce(cast(col, Text), null)  # int


def _col(columns: Any, spec: Column) -> ColumnElement[Any] | None:
    return None if spec.kind == "const" else columns[spec.column]


def _object(items: list[tuple[str, ColumnElement[str]]]) -> ColumnElement[str]:
    parts: list[ColumnElement[Any]] = []
    for i, (key, value) in enumerate(items):
        parts.append(sql_text(("{" if i == 0 else ",") + orjson.dumps(key).decode() + ":"))
        parts.append(value)
    parts.append(sql_text("}") if items else sql_text("{}"))
    return _concat(parts)


def _array(agg: ColumnElement[Any]) -> ColumnElement[str]:
    """`[` + the aggregated items (NULL when none) + `]`."""
    return _concat([sql_text("["), func.coalesce(agg, sql_text("")), sql_text("]")])


# ---- structure: what a statement depends on (values aside) ---------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    """A message window's structure; its bounds are the parameters `lo<n>`, `bm<n>`, `sz<n>`."""

    shape: MessagesShape  # window replaced by None
    backward: bool
    before: bool


def _window_structure(shape: MessagesShape) -> _Window:
    w = shape.window
    bare = MessagesShape(shape.key, w.__class__(), shape.connection, shape.fields)
    return _Window(bare, w.backward, w.before is not None)


def _window_values(n: int, shape: MessagesShape, out: dict[str, Any]) -> None:
    w = shape.window
    out[f"lo{n}"] = w.after_seq + 1
    out[f"sz{n}"] = w.size - 1
    if w.before_seq is not None:
        out[f"bm{n}"] = w.before_seq - 1


def _connection(conv: Any, n: int, shape: _Window) -> ColumnElement[str]:
    """The message connection of the conversation whose columns are `conv` (a correlated
    subquery per conversation)."""
    m = messages.alias("m")
    low: ColumnElement[int] = bindparam(f"lo{n}", type_=Integer)
    high: ColumnElement[int] = (
        func.least(conv.last_seq, bindparam(f"bm{n}", type_=Integer))
        if shape.before
        else conv.last_seq
    )
    size = bindparam(f"sz{n}", type_=Integer)
    if shape.backward:
        lo: ColumnElement[int] = func.greatest(low, high - size)
        hi = high
    else:
        lo, hi = low, func.least(high, low + size)
    fields = shape.shape.fields
    node = _object([(f.key, _value(_col(m.c, f), f)) for f in fields])
    nodes = (
        select(func.string_agg(node, aggregate_order_by(sql_text(","), m.c.seq)))
        .where(
            m.c.tenant_id == conv.tenant_id,
            m.c.conversation_id == conv.id,
            m.c.seq >= lo,
            m.c.seq <= hi,
        )
        .scalar_subquery()
    )
    items: list[tuple[str, ColumnElement[str]]] = []
    for entry in shape.shape.connection:
        if isinstance(entry, Column):
            items.append((entry.key, _value(None, entry)))
        else:
            items.append((entry, _array(nodes)))
    return _object(items)


def _conversation(conv: Any, fields: tuple[Column | _Window, ...]) -> ColumnElement[str]:
    items: list[tuple[str, ColumnElement[str]]] = []
    n = 0
    for f in fields:
        if isinstance(f, _Window):
            items.append((f.shape.key, _connection(conv, n, f)))
            n += 1
        else:
            items.append((f.key, _value(_col(conv, f), f)))
    return _object(items)


def _compiled(stmt: Any) -> tuple[str, tuple[str, ...]]:
    compiled = stmt.compile(dialect=_DIALECT)
    return compiled.string, tuple(compiled.positiontup)


def _structure(shape: ConversationShape) -> tuple[Column | _Window, ...]:
    return tuple(_window_structure(f) if isinstance(f, MessagesShape) else f for f in shape.fields)


@lru_cache(maxsize=256)
def _page_sql(
    fields: tuple[Column | _Window, ...],
    descending: bool,
    offset: bool,
    after: bool,
    filters: tuple[str, ...],
) -> tuple[str, tuple[str, ...]]:
    C = conversations.c
    conds: list[ColumnElement[bool]] = [C.tenant_id == bindparam("t", type_=String)]
    for name in filters:
        if name == "from_date":
            conds.append(C.created_at >= bindparam("f_from_date", type_=DateTime(timezone=True)))
        elif name == "to_date":
            conds.append(C.created_at <= bindparam("f_to_date", type_=DateTime(timezone=True)))
        else:
            conds.append(C[name] == bindparam(f"f_{name}", type_=String))
    if after:
        ts = bindparam("a_ts", type_=DateTime(timezone=True))
        cid = bindparam("a_id", type_=String)
        if descending:
            conds.append(or_(C.created_at < ts, and_(C.created_at == ts, C.id < cid)))
        else:
            conds.append(or_(C.created_at > ts, and_(C.created_at == ts, C.id > cid)))
    order = (C.created_at.desc(), C.id.desc()) if descending else (C.created_at, C.id)
    columns = {"tenant_id", "id", "last_seq", "created_at"}
    columns.update(f.column for f in fields if isinstance(f, Column) and f.kind != "const")
    page = select(*(C[c] for c in sorted(columns))).where(*conds).order_by(*order)
    if offset:
        page = page.offset(bindparam("off", type_=Integer))
    p = page.limit(bindparam("lim", type_=Integer)).subquery("p")
    p_order = (p.c.created_at.desc(), p.c.id.desc()) if descending else (p.c.created_at, p.c.id)
    doc = _conversation(p.c, fields)
    return _compiled(select(func.string_agg(doc, aggregate_order_by(sql_text(","), *p_order))))


@lru_cache(maxsize=256)
def _messages_sql(shape: _Window) -> tuple[str, tuple[str, ...]]:
    C = conversations.c
    stmt = select(_connection(C, 0, shape)).where(
        C.tenant_id == bindparam("t", type_=String), C.id == bindparam("cid", type_=String)
    )
    return _compiled(stmt)


def page_statement(
    tenant_id: str,
    q: ConversationQuery,
    *,
    descending: bool,
    offset: int,
    limit: int,
    after: tuple[datetime, str] | None,
    shape: ConversationShape,
) -> tuple[str, list[Any]] | None:
    """(SQL, arguments) of a page of conversations as one JSON array's items; None when a
    filter is not one of SIMPLE_FILTERS."""
    if q.tags or q.any_tags or q.metadata:
        return None
    values: dict[str, Any] = {"t": tenant_id, "lim": limit, "off": offset}
    filters = []
    for name in SIMPLE_FILTERS:
        value = getattr(q, name)
        if value is not None:
            filters.append(name)
            values[f"f_{name}"] = value.value if name == "status" else value
    if after is not None:
        values["a_ts"], values["a_id"] = after
    n = 0
    for f in shape.fields:
        if isinstance(f, MessagesShape):
            _window_values(n, f, values)
            n += 1
    sql, names = _page_sql(
        _structure(shape), descending, offset > 0, after is not None, tuple(filters)
    )
    return sql, [values[name] for name in names]


def messages_statement(
    tenant_id: str, conversation_id: str, shape: MessagesShape
) -> tuple[str, list[Any]]:
    """(SQL, arguments) of one conversation's message connection as a JSON object (no row when
    the conversation does not exist)."""
    values: dict[str, Any] = {"t": tenant_id, "cid": conversation_id}
    _window_values(0, shape, values)
    sql, names = _messages_sql(_window_structure(shape))
    return sql, [values[name] for name in names]
