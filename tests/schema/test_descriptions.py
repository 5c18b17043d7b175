"""Every part of the public GraphQL schema says what a caller needs to know.

Walks the built schema (graphql-core's `GraphQLSchema` under the Strawberry one), not the SDL
file, so a type, field, argument, input field or enum value added later without a
`description=` fails here, named, before it reaches `schema.graphql`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    is_specified_scalar_type,
)

from conversation_service.schema import schema


def _ours(schema_: GraphQLSchema) -> list[GraphQLNamedType]:
    """Named types we define: not introspection (`__Type`...) nor the spec's scalars."""
    return [
        t
        for name, t in sorted(schema_.type_map.items())
        if not name.startswith("__") and not is_specified_scalar_type(t)
    ]


def undocumented(schema_: GraphQLSchema) -> list[str]:
    """Schema coordinates (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`) that have
    no description, or a blank one."""

    def missing(description: str | None) -> bool:
        return description is None or not description.strip()

    out: list[str] = []
    for t in _ours(schema_):
        if missing(t.description):
            out.append(t.name)
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            for fname, f in t.fields.items():
                if missing(f.description):
                    out.append(f"{t.name}.{fname}")
                for aname, a in f.args.items():
                    if missing(a.description):
                        out.append(f"{t.name}.{fname}({aname}:)")
        elif isinstance(t, GraphQLInputObjectType):
            for fname, inf in t.fields.items():
                if missing(inf.description):
                    out.append(f"{t.name}.{fname}")
        elif isinstance(t, GraphQLEnumType):
            for vname, v in t.values.items():
                if missing(v.description):
                    out.append(f"{t.name}.{vname}")
    return out


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    gaps = undocumented(schema._schema)
    assert not gaps, f"{len(gaps)} schema members have no description:\n" + "\n".join(gaps)


@strawberry.enum(name="Colour", description="A colour.")
class _Colour(Enum):
    RED = "red"
    BLUE = strawberry.enum_value("blue", description="The blue one.")


@strawberry.input(name="Paint")
class _Paint:
    colour: _Colour


@strawberry.type(name="Q", description="Root.")
class _Q:
    @strawberry.field
    def mix(
        self,
        paint: _Paint,
        litres: Annotated[int, strawberry.argument(description="How much.")] = 1,
    ) -> _Colour:
        return paint.colour


def test_the_walk_names_what_is_missing() -> None:
    """The check can fail: a schema with undocumented members is reported member by member."""
    assert undocumented(strawberry.Schema(query=_Q)._schema) == [
        "Colour.RED",
        "Paint",
        "Paint.colour",
        "Q.mix",
        "Q.mix(paint:)",
    ]
