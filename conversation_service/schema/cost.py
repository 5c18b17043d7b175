"""A cost estimate for a GraphQL operation, in rows, computed from the document alone.

Neither Strawberry nor graphql-core ships a cost rule, so this one is ours. The model:

* a connection field (`...Connection`) costs its page size (`first`/`last`/`limit`/`pageSize`,
  else the argument's default, else the service's default page size) times its parent's
  multiplier, and its `nodes`/`edges` run at that many rows (`conversationContext` likewise,
  sized by `maxMessages`);
* a list of objects elsewhere (`participants`, `state`, `sources`) costs `LIST_SIZE` times its
  parent's multiplier;
* `searchMessages` adds `SEARCH_COST` per call (a full-text scan over up to
  `SEARCH_MAX_CANDIDATES` rows: 1,000 aliases of it ran 11.9 s), `agentUsage` adds
  `AGGREGATE_COST` (an aggregate over an agent's messages);
* scalars and single objects cost nothing of their own.

A page size given by a variable is unknown while the document is validated (validation is cached
per document, variables vary per request); it counts as `MAX_PAGE_SIZE` there, and an operation
that passes only thanks to that is re-checked with the request's variables (`operation_cost`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from conversation_service.domain.pagination import (
    DEFAULT_MESSAGE_LIMIT,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
)

LIST_SIZE = 10
SEARCH_COST = 200
AGGREGATE_COST = 50
#: Extra cost of a call, by (parent type, field).
FIELD_COST: dict[tuple[str, str], int] = {
    ("Query", "searchMessages"): SEARCH_COST,
    ("Query", "agentUsage"): AGGREGATE_COST,
}
PAGE_ARGUMENTS = ("first", "last", "pageSize", "limit")
CONTEXT_MESSAGES = 50  # the largest tier's message limit
#: Objects holding one page of rows in their list fields: (size arguments, default size).
PAGED_TYPES: dict[str, tuple[tuple[str, ...], int]] = {
    "ConversationConnection": (PAGE_ARGUMENTS, DEFAULT_PAGE_SIZE),
    "MessageConnection": (PAGE_ARGUMENTS, DEFAULT_MESSAGE_LIMIT),
    "MessageSearchConnection": (PAGE_ARGUMENTS, DEFAULT_PAGE_SIZE),
    "ConversationContext": (("maxMessages",), CONTEXT_MESSAGES),
}

UNKNOWN: Mapping[str, Any] = {}  # sentinel: variables are not known (validation time)


@dataclass(slots=True)
class Estimate:
    cost: int = 0
    #: a page size came from a variable (counted at MAX_PAGE_SIZE when variables are unknown)
    uses_variables: bool = False


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.known = variables is not UNKNOWN
        self.estimate = Estimate()

    def _size(self, node: FieldNode, field: GraphQLField, names: tuple[str, ...]) -> int | None:
        """The size an argument asks for: the first of `names` given (not null), else the
        first default; None when neither."""
        given = {a.name.value: a.value for a in node.arguments or ()}
        for name in names:
            value = given.get(name)
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                self.estimate.uses_variables = True
                if not self.known:
                    return MAX_PAGE_SIZE
                raw = self.variables.get(value.name.value)
                if isinstance(raw, int) and not isinstance(raw, bool):
                    return max(raw, 0)
        for name in names:
            if name in given and not isinstance(given[name], NullValueNode):
                continue
            arg = field.args.get(name)
            if arg is not None and isinstance(arg.default_value, int):
                return arg.default_value
        return None

    def selection_set(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        multiplier: int,
        page_rows: int | None,
        seen: frozenset[str],
    ) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                self.field(parent, sel, multiplier, page_rows, seen)
            elif isinstance(sel, InlineFragmentNode):
                target = parent
                if sel.type_condition is not None:
                    named = self.schema.get_type(sel.type_condition.name.value)
                    if isinstance(named, GraphQLObjectType):
                        target = named
                self.selection_set(target, sel.selection_set, multiplier, page_rows, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # other rules report unknown or cyclic fragments
                named = self.schema.get_type(fragment.type_condition.name.value)
                target = named if isinstance(named, GraphQLObjectType) else parent
                self.selection_set(
                    target, fragment.selection_set, multiplier, page_rows, seen | {name}
                )

    def field(
        self,
        parent: GraphQLObjectType,
        node: FieldNode,
        multiplier: int,
        page_rows: int | None,
        seen: frozenset[str],
    ) -> None:
        name = node.name.value
        field = parent.fields.get(name)
        if field is None or name.startswith("__"):
            return  # unknown fields are reported by FieldsOnCorrectTypeRule
        self.estimate.cost += multiplier * FIELD_COST.get((parent.name, name), 0)
        named = get_named_type(field.type)
        if not isinstance(named, GraphQLObjectType) or node.selection_set is None:
            return
        inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        child_multiplier, child_page = multiplier, None
        paged = PAGED_TYPES.get(named.name)
        if paged is not None:
            size = self._size(node, field, paged[0])
            rows = multiplier * (paged[1] if size is None else size)
            self.estimate.cost += rows
            child_page = rows
        elif isinstance(inner, GraphQLList):
            if page_rows is not None:  # a page's nodes / edges: its rows, counted above
                child_multiplier = page_rows
            else:
                child_multiplier = multiplier * LIST_SIZE
                self.estimate.cost += child_multiplier
        self.selection_set(named, node.selection_set, child_multiplier, child_page, seen)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] = UNKNOWN,
) -> Estimate:
    """The estimated rows of one operation (variables: the request's, or UNKNOWN)."""
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, variables)
    if root is not None:
        walker.selection_set(root, operation.selection_set, 1, None, frozenset())
    return walker.estimate
