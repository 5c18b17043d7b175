"""A compiled execution path for read queries.

graphql-core resolves every field through a generic machine (resolve info, resolver wrapper,
completion, awaitable checks): 10-30 us per field, and a 20 x 20 nested read resolves ~1,300 of
them. Our output types are plain objects whose fields are attributes, so a validated query can
be compiled into a small plan (response key -> attribute or resolver, leaf serializer,
sub-plan) and run as straight Python. Relations (`messages`, `state`, `conversation`...) still go
through their resolvers and DataLoaders, started together so that one query serves a level.

Safe by construction:

* documents are parsed and validated by the schema's own caches with the schema's own rule list
  (`limits.validation_rules`), so every limit and rule applies here exactly as on Strawberry's
  path, and the request checks (operation name, cost with variables) are the same functions;
* which fields may be compiled is decided once per schema (`field_table`): a field with field
  extensions, permission classes, `root`/`parent` parameters, or a schema with resolve
  middleware or a custom default resolver, is never compiled: the query falls back;
* every fallback is counted by reason (`FastPathStats`, on `/metrics`) and logged at DEBUG
  with a bounded line; nothing falls back silently;
* with `FAST_PATH_VERIFY` (on for the whole test suite) every answer of this path is also
  executed by Strawberry, and any difference raises `FastPathMismatch`.

Only queries take this path, and only when the plan covers them: introspection, abstract types,
any unsupported construct or any exception while running falls back to the ordinary Strawberry
execution, which then produces the result and its errors. A query has no side effects, so
running it again is safe.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
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
)
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective
from graphql.type.definition import is_leaf_type
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments

from conversation_service.adapters.db_errors import as_unavailable
from conversation_service.observability.metrics import FAST_PATH_FALLBACKS
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema import schema
from conversation_service.schema.documents import (  # `prepare`: also for the WebSocket door
    prepare,
    prepare_async,
)
from conversation_service.schema.limits import (
    limits_of,
    request_limit_errors,
)
from conversation_service.schema.operation_name import operation_name_error

log = logging.getLogger(__name__)

_REASON_CHARS = 200
VERIFY_ROUNDS = 3


class Fallback(Exception):
    """This request is not for the fast path: run it the ordinary way."""


class FastPathMismatch(AssertionError):
    """FAST_PATH_VERIFY: the fast path and Strawberry answered the same request differently."""


_verify_paused: ContextVar[bool] = ContextVar("fast_path_verify_paused", default=False)


@contextmanager
def unverified() -> Iterator[None]:
    """Skip FAST_PATH_VERIFY's second execution inside the block (for tests that count the
    SQL statements of one execution)."""
    token = _verify_paused.set(True)
    try:
        yield
    finally:
        _verify_paused.reset(token)


@dataclass(frozen=True, slots=True)
class ResolverInfo:
    """How to call one field's resolver, decided once per schema."""

    func: Callable[..., Any]
    is_method: bool
    wants_info: bool
    is_async: bool


@lru_cache(maxsize=4)
def field_table(graphql_schema: Any) -> dict[tuple[str, str], ResolverInfo | str | None]:
    """(type, field) -> None (plain attribute), how to call its resolver, or why the fast path
    must not compile it. Computed once per schema, not per request."""
    table: dict[tuple[str, str], ResolverInfo | str | None] = {}
    blocker = None
    if any(ext._implements_resolve() for ext in _extension_classes()):
        blocker = "schema middleware"
    elif schema.config.default_resolver is not getattr:
        blocker = "custom default resolver"
    for type_name, gql_type in graphql_schema.type_map.items():
        if not isinstance(gql_type, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for name, gql_field in gql_type.fields.items():
            table[(type_name, name)] = blocker or _field_entry(gql_field)
    return table


def _extension_classes() -> list[type[Any]]:
    out: list[type[Any]] = []
    for ext in schema.extensions:
        target = getattr(ext, "func", ext)  # functools.partial factories
        if isinstance(target, type):
            out.append(target)
    return out


def _field_entry(gql_field: GraphQLField) -> ResolverInfo | str | None:
    definition = gql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None:
        return "field without definition"
    if definition.extensions or definition.permission_classes:
        return "field extensions"
    resolver = definition.base_resolver
    if resolver is None:
        return None
    if resolver.root_parameter is not None or resolver.parent_parameter is not None:
        return "root parameter"
    func = resolver.wrapped_func
    return ResolverInfo(
        func=func,
        is_method=resolver.self_parameter is not None,
        wants_info=resolver.info_parameter is not None,
        is_async=resolver.is_async,
    )


@dataclass(slots=True)
class FieldPlan:
    key: str
    name: str
    attr: str | None  # plain attribute
    resolver: ResolverInfo | None  # method/function resolver (sync or async)
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
        self.table = field_table(schema._schema)

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
                plan.fields.append(FieldPlan(key, name, None, None, {}, False, 0, True, None, None))
                continue
            if name.startswith("__"):
                raise Fallback("introspection")
            entry = self.table[(parent.name, name)]
            if isinstance(entry, str):
                raise Fallback(entry)
            gql_field: GraphQLField = parent.fields[name]
            definition = gql_field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
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
            if entry is None:
                if node.arguments:
                    raise Fallback("arguments on a plain field")
                attr, args = definition.python_name, {}
            else:
                raw = get_argument_values(gql_field, node, self.variables)
                attr = None
                args = convert_arguments(
                    raw,
                    definition.arguments,
                    scalar_registry=self.scalar_registry,
                    config=self.config,
                )
            fp = FieldPlan(
                key, name, attr, entry, args, nullable, depth, item_nullable, serialize, sub
            )
            plan.fields.append(fp)
            if (entry is not None and entry.is_async) or (sub is not None and sub.is_async):
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
        r = fp.resolver
        assert r is not None
        kwargs = fp.args
        if r.wants_info:
            kwargs = {**kwargs, "info": _Info(self.context, fp.name)}
        return r.func(obj, **kwargs) if r.is_method else r.func(**kwargs)

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


def _reason(exc: BaseException) -> tuple[str, str]:
    """(bounded label for the counter, bounded detail for the log line)."""
    if isinstance(exc, Fallback):
        label = str(exc)
        return label, label
    detail = f"{type(exc).__name__}: {exc}"
    return f"error:{type(exc).__name__}", detail[:_REASON_CHARS]


class FastPathStats:
    """Requests served by the fast path, and fallbacks by reason (a bounded set of labels: the
    reasons named in this module, the operation types, `error:<exception class>`)."""

    def __init__(self) -> None:
        self.served = 0
        self.fallbacks: Counter[str] = Counter()

    def fallback(self, label: str, detail: str) -> None:
        self.fallbacks[label] += 1
        FAST_PATH_FALLBACKS.labels(reason=label).inc()
        log.debug("graphql fast path fell back: %s", detail)

    def metrics(self) -> dict[str, int]:
        """Gauges for /metrics (the reasons are the process's `fast_path_fallbacks` counter)."""
        return {"served": self.served, "fallbacks": sum(self.fallbacks.values())}


class FastPath:
    """The fast path of one app: runs read queries, counts what it serves and every fallback,
    and (when `verify`) checks each answer against Strawberry's execution."""

    def __init__(self) -> None:
        self.stats = FastPathStats()

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: GraphQLContext,
    ) -> dict[str, Any] | None:
        """The `data` of a read query, or None when it must take the ordinary path."""
        try:
            data = await self._run(query, variables, operation_name, context)
        except Exception as exc:  # every fallback is counted and logged, none is silent
            if as_unavailable(exc) is not None:
                # The database is down or timed out: running the query again on the ordinary
                # path would wait a second timeout (12 s instead of 5 s, measured); the door
                # answers UNAVAILABLE at once.
                raise
            self.stats.fallback(*_reason(exc))
            return None
        self.stats.served += 1
        settings = getattr(context.container, "settings", None)
        if settings is not None and settings.fast_path_verify and not _verify_paused.get():
            await self._verify(query, variables, operation_name, context, data)
        return data

    async def _run(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: GraphQLContext,
    ) -> dict[str, Any]:
        limits = limits_of(context)
        document = await prepare_async(query, limits)
        if isinstance(document, list):
            raise Fallback("invalid document")
        if operation_name_error(document, operation_name) is not None:
            raise Fallback("operation name")
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise Fallback("unknown operation")
        if operation.operation != OperationType.QUERY:
            raise Fallback(operation.operation.value)
        if request_limit_errors(schema._schema, query, document, operation_name, variables, limits):
            raise Fallback("limit")
        plan = compile_query(document, operation, variables)
        runner = _Runner(context)
        if plan.is_async:
            return (await runner.objects_async(plan, [None]))[0]
        return runner.object_sync(plan, None)

    async def _verify(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: GraphQLContext,
        data: dict[str, Any],
    ) -> None:
        """Compare with Strawberry's answer. Data may change between the two executions (a
        background runner moving a sync along), so a difference is re-checked with a new pair
        of executions, up to VERIFY_ROUNDS: a fast-path bug differs every time."""
        mine = orjson.dumps({"data": data, "extensions": context.extensions})
        theirs = b""
        for round_ in range(VERIFY_ROUNDS):
            if round_:
                again = self._fresh(context)
                try:
                    rerun = await self._run(query, variables, operation_name, again)
                except Exception as exc:  # it would not answer now: differs from its answer
                    mine = orjson.dumps({"fallback": _reason(exc)[0]})
                else:
                    mine = orjson.dumps({"data": rerun, "extensions": again.extensions})
            fresh = self._fresh(context)
            expected = await schema.execute(
                query, variable_values=variables, context_value=fresh, operation_name=operation_name
            )
            theirs = orjson.dumps(
                {"data": expected.data, "extensions": fresh.extensions}
                if not expected.errors
                else {"errors": [e.formatted for e in expected.errors]}
            )
            if mine == theirs:
                return
        log.error(
            "graphql fast path differs from Strawberry for %.200r: %.500s != %.500s",
            query,
            mine,
            theirs,
        )
        raise FastPathMismatch(f"fast path {mine[:500]!r} != strawberry {theirs[:500]!r}")

    @staticmethod
    def _fresh(context: GraphQLContext) -> GraphQLContext:
        return GraphQLContext(
            container=context.container,
            raw_tenant_id=context.raw_tenant_id,
            connection_id=context.connection_id,
            principal=context.principal,
        )


async def execute_query(
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: GraphQLContext,
    fast_path: FastPath | None = None,
) -> dict[str, Any] | None:
    """The `data` of a read query, or None when it must take the ordinary path."""
    return await (fast_path or FastPath()).execute(query, variables, operation_name, context)


__all__ = [
    "FastPath",
    "FastPathMismatch",
    "FastPathStats",
    "execute_query",
    "prepare",
    "unverified",
]
