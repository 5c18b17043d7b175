"""A compiled execution path for read queries.

graphql-core resolves every field through a generic machine (resolve info, resolver wrapper,
completion, awaitable checks): 10-30 us per field, and a 20 x 20 nested read resolves ~1,300 of
them. Our output types are plain objects whose fields are attributes, so a validated query can
be compiled once into a small plan (response key -> attribute or resolver, leaf serializer,
sub-plan) and run as straight Python. Relations (`messages`, `state`, `conversation`...) still go
through their resolvers and DataLoaders, started together so that one query serves a level.

Only queries take this path, and only when the plan covers them: any introspection, abstract
type, unsupported construct or any exception while running falls back to the ordinary
Strawberry execution, which then produces the result and its errors. A query has no side
effects, so running it again is safe; tests compare both paths on the same documents.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective
from graphql.type.definition import is_leaf_type
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments

from conversation_service.schema import schema


class Fallback(Exception):
    """This request is not for the fast path: run it the ordinary way."""


@lru_cache(maxsize=1024)
def prepare(query: str) -> DocumentNode | list[GraphQLError]:
    """Parse and validate once per distinct document (shared with the WebSocket transport)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return [exc]
    errors = validate(schema._schema, document)
    return list(errors) if errors else document


@dataclass(slots=True)
class FieldPlan:
    key: str
    name: str
    attr: str | None  # plain attribute
    resolver: Callable[..., Any] | None  # method/function resolver (sync or async)
    is_method: bool
    is_async: bool
    args: dict[str, Any]
    nullable: bool
    list_depth: int  # 0: single value, 1: list (our schema has no nested lists)
    item_nullable: bool
    serialize: Callable[[Any], Any] | None  # leaf serializer
    sub: ObjectPlan | None


@dataclass(slots=True)
class ObjectPlan:
    type_name: str
    fields: list[FieldPlan] = field(default_factory=list)
    is_async: bool = False


class _Info:
    """What our resolvers read from `info`: the context (and a few names for logging)."""

    __slots__ = ("context", "field_name")

    def __init__(self, context: Any, field_name: str) -> None:
        self.context = context
        self.field_name = field_name


def _unwrap(t: GraphQLOutputType) -> tuple[bool, int, bool, GraphQLOutputType]:
    nullable = True
    if isinstance(t, GraphQLNonNull):
        nullable, t = False, t.of_type
    depth, item_nullable = 0, True
    if isinstance(t, GraphQLList):
        depth, t = 1, t.of_type
        if isinstance(t, GraphQLNonNull):
            item_nullable, t = False, t.of_type
        if isinstance(t, GraphQLList):
            raise Fallback("nested lists")
    return nullable, depth, item_nullable, t


class _Compiler:
    def __init__(
        self, document: DocumentNode, variables: Any, fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self.document = document
        self.variables = variables
        self.fragments = fragments
        converter = schema.schema_converter
        self.scalar_registry = converter.scalar_registry
        self.config = schema.config

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)

    def _collect(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        out: dict[str, list[FieldNode]],
    ) -> None:
        for sel in selection_set.selections:
            if not self._included(sel):
                continue
            if isinstance(sel, FieldNode):
                out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                if cond is not None and cond.name.value != parent.name:
                    raise Fallback("fragment on another type")
                self._collect(parent, sel.selection_set, out)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments[sel.name.value]
                if frag.type_condition.name.value != parent.name:
                    raise Fallback("fragment on another type")
                self._collect(parent, frag.selection_set, out)

    def object_plan(
        self, parent: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> ObjectPlan:
        grouped: dict[str, list[FieldNode]] = {}
        for ss in selection_sets:
            self._collect(parent, ss, grouped)
        plan = ObjectPlan(parent.name)
        for key, nodes in grouped.items():
            node = nodes[0]
            name = node.name.value
            if name == "__typename":
                plan.fields.append(
                    FieldPlan(key, name, None, None, False, False, {}, False, 0, True, None, None)
                )
                continue
            if name.startswith("__"):
                raise Fallback("introspection")
            gql_field: GraphQLField = parent.fields[name]
            definition = gql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if definition is None:
                raise Fallback("field without definition")
            nullable, depth, item_nullable, inner = _unwrap(gql_field.type)
            serialize = None
            sub = None
            if is_leaf_type(inner):
                serialize = inner.serialize
            elif isinstance(inner, GraphQLObjectType):
                child_sets = [n.selection_set for n in nodes if n.selection_set is not None]
                sub = self.object_plan(inner, child_sets)
            else:
                raise Fallback("abstract type")
            resolver_def = definition.base_resolver
            args: dict[str, Any] = {}
            if resolver_def is None:
                if node.arguments:
                    raise Fallback("arguments on a plain field")
                fp = FieldPlan(
                    key,
                    name,
                    definition.python_name,
                    None,
                    False,
                    False,
                    {},
                    nullable,
                    depth,
                    item_nullable,
                    serialize,
                    sub,
                )
            else:
                raw = get_argument_values(gql_field, node, self.variables)
                args = convert_arguments(
                    raw,
                    definition.arguments,
                    scalar_registry=self.scalar_registry,
                    config=self.config,
                )
                func = resolver_def.wrapped_func
                params = list(inspect.signature(func).parameters)
                is_method = bool(params) and params[0] == "self"
                is_async = inspect.iscoroutinefunction(func)
                fp = FieldPlan(
                    key,
                    name,
                    None,
                    func,
                    is_method,
                    is_async,
                    args,
                    nullable,
                    depth,
                    item_nullable,
                    serialize,
                    sub,
                )
            plan.fields.append(fp)
            if fp.is_async or (sub is not None and sub.is_async):
                plan.is_async = True
        return plan


def compile_query(
    document: DocumentNode, operation: OperationDefinitionNode, raw_variables: dict[str, Any] | None
) -> ObjectPlan:
    coerced = get_variable_values(
        schema._schema, operation.variable_definitions or (), raw_variables or {}
    )
    if isinstance(coerced, list):
        raise Fallback("variables")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    query_type = schema._schema.query_type
    assert query_type is not None
    return _Compiler(document, coerced, fragments).object_plan(
        query_type, [operation.selection_set]
    )


class _Runner:
    def __init__(self, context: Any) -> None:
        self.context = context

    def _resolve(self, fp: FieldPlan, obj: Any) -> Any:
        info = _Info(self.context, fp.name)
        assert fp.resolver is not None
        if fp.is_method:
            return (
                fp.resolver(obj, info=info, **fp.args)
                if _wants_info(fp.resolver)
                else fp.resolver(obj, **fp.args)
            )
        return (
            fp.resolver(info=info, **fp.args)
            if _wants_info(fp.resolver)
            else fp.resolver(**fp.args)
        )

    def _complete(self, fp: FieldPlan, value: Any) -> Any:
        if value is None:
            if not fp.nullable:
                raise Fallback("null for a non-null field")
            return None
        if fp.list_depth:
            out: list[Any] = []
            for item in value:
                if item is None:
                    if not fp.item_nullable:
                        raise Fallback("null item")
                    out.append(None)
                elif fp.sub is not None:
                    out.append(self.object_sync(fp.sub, item))
                else:
                    out.append(fp.serialize(item))  # type: ignore[misc]
            return out
        if fp.sub is not None:
            return self.object_sync(fp.sub, value)
        return fp.serialize(value)  # type: ignore[misc]

    def object_sync(self, plan: ObjectPlan, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fp in plan.fields:
            if fp.attr is not None:
                out[fp.key] = self._complete(fp, getattr(obj, fp.attr))
            elif fp.name == "__typename":
                out[fp.key] = plan.type_name
            else:
                out[fp.key] = self._complete(fp, self._resolve(fp, obj))
        return out

    async def objects_async(self, plan: ObjectPlan, objs: list[Any]) -> list[dict[str, Any]]:
        """Complete sibling objects together: every resolver of the level is awaited in one
        gather (one DataLoader batch, one event-loop turn), then each async sub-plan once for
        all the objects it reaches."""
        outs: list[dict[str, Any]] = []
        awaiting: list[tuple[dict[str, Any], FieldPlan, Any]] = []
        deferred: list[tuple[dict[str, Any], FieldPlan, Any]] = []
        for obj in objs:
            out: dict[str, Any] = {}
            for fp in plan.fields:
                if fp.attr is not None:
                    value = getattr(obj, fp.attr)
                elif fp.name == "__typename":
                    out[fp.key] = plan.type_name
                    continue
                else:
                    value = self._resolve(fp, obj)
                    if inspect.isawaitable(value):
                        out[fp.key] = None  # keeps the key order of the selection
                        awaiting.append((out, fp, value))
                        continue
                self._place(out, fp, value, deferred)
            outs.append(out)
        if awaiting:
            values = await asyncio.gather(*(aw for _, _, aw in awaiting))
            for (out, fp, _), value in zip(awaiting, values, strict=True):
                self._place(out, fp, value, deferred)
        groups: dict[int, list[tuple[dict[str, Any], FieldPlan, Any]]] = {}
        for entry in deferred:
            groups.setdefault(id(entry[1]), []).append(entry)
        if len(groups) == 1:
            await self._finish(next(iter(groups.values())))
        elif groups:
            await asyncio.gather(*(self._finish(g) for g in groups.values()))
        return outs

    def _place(
        self,
        out: dict[str, Any],
        fp: FieldPlan,
        value: Any,
        deferred: list[tuple[dict[str, Any], FieldPlan, Any]],
    ) -> None:
        if value is not None and fp.sub is not None and fp.sub.is_async:
            out[fp.key] = None
            deferred.append((out, fp, value))
        else:
            out[fp.key] = self._complete(fp, value)

    async def _finish(self, group: list[tuple[dict[str, Any], FieldPlan, Any]]) -> None:
        fp = group[0][1]
        assert fp.sub is not None
        flat: list[Any] = []
        for _, _, value in group:
            for item in value if fp.list_depth else (value,):
                if item is None:
                    if not (fp.list_depth and fp.item_nullable):
                        raise Fallback("null for a non-null item")
                else:
                    flat.append(item)
        done = iter(await self.objects_async(fp.sub, flat))
        for out, _, value in group:
            if fp.list_depth:
                out[fp.key] = [None if item is None else next(done) for item in value]
            else:
                out[fp.key] = next(done)


@lru_cache(maxsize=256)
def _wants_info(func: Callable[..., Any]) -> bool:
    return "info" in inspect.signature(func).parameters


async def execute_query(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, context: Any
) -> dict[str, Any] | None:
    """The `data` of a read query, or None when it must take the ordinary path."""
    document = prepare(query)
    if isinstance(document, list):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None and len(operations) != 1:
        return None  # the ordinary path reports the missing operation name
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    try:
        plan = compile_query(document, operation, variables)
        runner = _Runner(context)
        if plan.is_async:
            return (await runner.objects_async(plan, [None]))[0]
        return runner.object_sync(plan, None)
    except Exception:
        # Fallback, or anything a resolver raised: the ordinary path reports it properly.
        return None
