"""JSON containment (`ConversationFilter.metadata`, validated by `domain.validation`): PostgreSQL jsonb `@>` on a GIN index,
SQLite the same semantics spelled with json_extract / json_each per key."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, bindparam, exists, func, literal, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement


def metadata_contains(
    column: ColumnElement[Any], value: dict[str, Any], dialect: str
) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column.op("@>")(bindparam(None, value, type_=JSONB))
    return _sqlite_contains(column, "$", value)


def _sqlite_contains(column: ColumnElement[Any], path: str, value: Any) -> ColumnElement[bool]:
    """PostgreSQL's jsonb containment: objects by key (recursively), arrays by each element."""
    if isinstance(value, dict):
        conds = [_sqlite_contains(column, f'{path}."{k}"', child) for k, child in value.items()]
        return and_(func.json_type(column, path) == "object", *conds)
    if isinstance(value, list):
        conds = [_sqlite_contains_element(column, path, e) for e in value]
        return and_(func.json_type(column, path) == "array", *conds)
    return _sqlite_scalar(func.json_type(column, path), func.json_extract(column, path), value)


def _sqlite_scalar(
    json_type: ColumnElement[Any], extracted: ColumnElement[Any], value: Any
) -> ColumnElement[bool]:
    if value is None:
        return json_type == "null"
    if value is True or value is False:
        return json_type == ("true" if value else "false")
    if isinstance(value, str):
        return and_(json_type == "text", extracted == literal(value))
    return and_(json_type.in_(["integer", "real"]), extracted == literal(value))


def _sqlite_contains_element(
    column: ColumnElement[Any], path: str, element: Any
) -> ColumnElement[bool]:
    each = func.json_each(column, path).table_valued("type", "value", "atom").alias("e")
    if isinstance(element, dict | list):
        # Nested containers inside arrays: compare canonical JSON text (exact, not partial).
        encoded = orjson.dumps(element).decode()
        match = each.c.value == func.json(literal(encoded))
    elif element is None or isinstance(element, bool):
        match = each.c.type == ("null" if element is None else ("true" if element else "false"))
    else:
        match = and_(each.c.type.in_(["text", "integer", "real"]), each.c.atom == literal(element))
    return exists(select(true()).select_from(each).where(match))
