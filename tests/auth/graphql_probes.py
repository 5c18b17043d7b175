"""One valid document per root field, generated from the schema, so a new field is covered by
the access matrix without anyone listing it. Every ID argument (required or not) names the
target object, so the same document probes "someone else's id" and "a random id"."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from graphql.pyutils import Undefined

from conversation_service.domain.identity import Role
from conversation_service.schema import schema
from conversation_service.schema.access import AdminOnly

SCALARS = {
    "ID": None,  # the target id
    "String": '"k"',
    "Int": "1",
    "Float": "1.0",
    "Boolean": "true",
    "DateTime": '"2024-01-01T00:00:00Z"',
    "JSON": "{}",
}


@dataclass(frozen=True)
class Probe:
    kind: str  # query, mutation, subscription
    field: str
    #: the document, with `{id}` where the target id goes
    template: str
    #: the role the field needs beyond its operation's (admin-only fields)
    needs: Role | None

    def document(self, target_id: str) -> str:
        return self.template.replace("{id}", target_id)


def _literal(type_: GraphQLInputType) -> str:
    if isinstance(type_, GraphQLNonNull):
        return _literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return f"[{_literal(type_.of_type)}]"
    if isinstance(type_, GraphQLEnumType):
        return str(next(iter(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        fields = [
            f"{name}: {_literal(f.type)}"
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        ]
        return "{" + ", ".join(fields) + "}"
    assert isinstance(type_, GraphQLScalarType)
    value = SCALARS[type_.name]
    return '"{id}"' if value is None else value


def _arguments(field: GraphQLField) -> str:
    args = []
    for name, arg in field.args.items():
        named = get_named_type(arg.type)
        required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        if required or named.name == "ID":
            args.append(f"{name}: {_literal(arg.type)}")
    return f"({', '.join(args)})" if args else ""


def _admin_fields() -> set[tuple[str, str]]:
    """Root fields that need the admin role: guarded by `AdminOnly` (schema/access.py), or whose
    resolver asks `info.context.require(Role.ADMIN)`."""
    found = set()
    for kind, root in (
        ("query", "Query"),
        ("mutation", "Mutation"),
        ("subscription", "Subscription"),
    ):
        definition = schema.get_type_by_name(root)
        for f in getattr(definition, "fields", []):
            resolver = f.base_resolver.wrapped_func if f.base_resolver is not None else None
            asks = resolver is not None and "require(Role.ADMIN)" in inspect.getsource(resolver)
            if asks or any(p is AdminOnly for p in f.permission_classes):
                found.add(
                    (kind, f.graphql_name or schema.config.name_converter.get_graphql_name(f))
                )
    return found


def probes() -> list[Probe]:
    admin = _admin_fields()
    out = []
    gql = schema._schema
    for kind, root in (
        ("query", gql.query_type),
        ("mutation", gql.mutation_type),
        ("subscription", gql.subscription_type),
    ):
        assert root is not None
        for name, field in root.fields.items():
            selection = (
                " { __typename }"
                if isinstance(get_named_type(field.type), GraphQLObjectType)
                else ""
            )
            template = f"{kind} Probe {{ {name}{_arguments(field)}{selection} }}"
            out.append(Probe(kind, name, template, Role.ADMIN if (kind, name) in admin else None))
    return out
