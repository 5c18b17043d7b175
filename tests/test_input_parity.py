"""Every door accepts every field of the domain command it stands for.

The domain commands (`domain/commands.py`, dataclasses) are the one description of each input
shape. For each shape this test takes one input holding every field and sends it through each
door's own translation: the GraphQL input type (fields read from the printed schema, camelCase,
then its `to_command`), the REST request model (its pydantic fields, snake_case, then
`to_command`), and the worker handler registered for the action (run on an envelope whose `data`
holds every field; the domain service it calls is replaced by a recorder that keeps the command
and stops). A door that lacks a field, drops it or translates it differently fails here. The
differences that are meant are listed below, each with its reason.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from types import SimpleNamespace
from typing import Any

import graphql
import pytest
from pydantic import AliasChoices, BaseModel
from strawberry.types.base import StrawberryList, StrawberryOptional, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.utils.str_converters import to_camel_case

from conversation_service.domain import commands
from conversation_service.domain.commands import UNSET
from conversation_service.rest import models as rest
from conversation_service.rest.routes import conversations as rest_conversations
from conversation_service.schema import inputs as gql
from conversation_service.schema import schema
from conversation_service.worker.actions import default_registry
from conversation_service.worker.envelope import DomainAction

# --- one input per shape, every field set to a value that is not its default -------------------

SOURCE = {
    "document_id": "doc-1",
    "title": "Manual",
    "url": "https://example.test/manual",
    "snippet": "a snippet",
    "score": 0.5,
    "metadata": {"page": 3},
}
EXECUTION = {
    "execution_id": "exec-1",
    "mode": "advance",
    "iterations": 2,
    "execution_time_ms": 30,
    "prompt_tokens": 3,
    "completion_tokens": 4,
    "total_tokens": 7,
    "detail": {"step": 1},
}
PARTICIPANT = {
    "id": "p-1",
    "kind": "agent",
    "display_name": "Pat",
    "joined_at": "2026-01-02T03:04:05+00:00",
}
NEW_MESSAGE: dict[str, Any] = {
    "role": "assistant",
    "content": "every field",
    "content_type": "markdown",
    "sender_id": "sender-1",
    "agent_id": "agent-9",
    "model_used": "gpt-x",
    "token_count": 7,
    "processing_time_ms": 12,
    "metadata": {"k": "v"},
    "sources": [SOURCE],
    "execution": EXECUTION,
    "tool_calls": [{"id": "call-1", "name": "lookup", "arguments": "{}"}],
    "tool_call_id": "call-0",
    "client_message_id": "cm-1",
    "analysis": {"sentiment": -0.5, "intent": "refund", "entities": [{"type": "order", "id": "7"}]},
}
NEW_CONVERSATION: dict[str, Any] = {
    "id": str(uuid.UUID(int=1)),
    "user_id": "user-9",
    "agent_id": "agent-9",
    "session_id": "session-9",
    "title": "every field",
    "status": "completed",
    "tags": ["support"],
    "metadata": {"k": "v"},
    "participants": [PARTICIPANT],
    "customer_info": {"email": "c@example.test"},
    "crm_references": {"hubspot": "42"},
    "initial_messages": [NEW_MESSAGE],
}
STATE_WRITE: dict[str, Any] = {
    "key": "step",
    "value": {"n": 1},
    "state_type": "memory",
    "ttl_seconds": 60,
    "expected_version": 3,
}
CONVERSATION_CHANGES: dict[str, Any] = {
    "title": "changed",
    "status": "archived",
    "user_id": "user-8",
    "agent_id": "agent-8",
    "session_id": "session-8",
    "tags": ["x"],
    "metadata": {"k": 2},
    "participants": [PARTICIPANT],
    "customer_info": {"name": "C"},
    "crm_references": {"generic": "7"},
    "expected_version": 4,
}
CONVERSATION_QUERY: dict[str, Any] = {
    "user_id": "user-7",
    "agent_id": "agent-7",
    "session_id": "session-7",
    "status": "active",
    "from_date": "2026-01-01T00:00:00+00:00",
    "to_date": "2026-02-01T00:00:00+00:00",
    "tags": ["a"],
    "any_tags": ["b"],
    "metadata": {"k": "v"},
    "intent": "refund",
}

# --- the intended differences ------------------------------------------------------------------

#: Command fields no door accepts: the service sets them (a platform turn derives message ids
#: from its action; `created_at` is for imports that keep the original time).
SET_BY_THE_SERVICE: dict[type[Any], set[str]] = {commands.NewMessage: {"id", "created_at"}}

#: Shapes a door does not offer at all, with the reason.
NOT_OFFERED = {
    ("rest", commands.ConversationChanges): "the REST shim has no conversation update (legacy API)",
    ("worker", commands.ConversationChanges): "no platform action updates a conversation",
    ("worker", commands.ConversationQuery): "no platform action lists conversations",
}

#: Fields of a command that one door leaves out on purpose.
LEFT_OUT: dict[tuple[str, type[Any]], set[str]] = {
    # The REST list keeps the legacy service's query parameters; the newer filters are GraphQL's.
    ("rest", commands.ConversationQuery): {"session_id", "any_tags", "metadata", "intent"},
}

#: Other names a door accepts for a field, besides the command's own (legacy senders).
EXTRA_NAMES: dict[tuple[str, type[Any]], dict[str, set[str]]] = {
    ("rest", commands.NewMessage): {"role": {"sender"}, "token_count": {"tokens_used"}},
    ("rest", commands.NewConversation): {"id": {"conversation_id"}},
    ("rest", commands.StateWrite): {"key": {"state_key"}, "value": {"state_value"}},
}

#: The worker's action for each shape, and the extra `data` it needs to address the write.
WORKER_ACTIONS: dict[type[Any], tuple[str, dict[str, Any]]] = {
    commands.NewMessage: ("conversation.add_message", {"conversation_id": str(uuid.UUID(int=2))}),
    commands.NewConversation: ("conversation.create", {}),
    commands.StateWrite: ("conversation.update_state", {"conversation_id": str(uuid.UUID(int=2))}),
}

SHAPES: list[tuple[type[Any], dict[str, Any], str, type[Any] | None]] = [
    # command, full input (snake_case, JSON values), GraphQL input type, REST model
    (commands.NewMessage, NEW_MESSAGE, "AddMessageInput", rest.CreateMessageRequest),
    (
        commands.NewConversation,
        NEW_CONVERSATION,
        "CreateConversationInput",
        rest.CreateConversationRequest,
    ),
    (commands.StateWrite, STATE_WRITE, "UpdateStateInput", rest.UpdateStateRequest),
    (commands.ConversationChanges, CONVERSATION_CHANGES, "UpdateConversationInput", None),
    (commands.ConversationQuery, CONVERSATION_QUERY, "ConversationFilter", None),
]
IDS = [shape[0].__name__ for shape in SHAPES]

GQL_CLASSES: dict[str, type[Any]] = {
    "AddMessageInput": gql.AddMessageInput,
    "CreateConversationInput": gql.CreateConversationInput,
    "UpdateStateInput": gql.UpdateStateInput,
    "UpdateConversationInput": gql.UpdateConversationInput,
    "ConversationFilter": gql.ConversationFilter,
}


def command_fields(command: type[Any], door: str) -> set[str]:
    names = {f.name for f in dataclasses.fields(command)}
    return names - SET_BY_THE_SERVICE.get(command, set()) - LEFT_OUT.get((door, command), set())


def test_every_full_input_covers_its_command() -> None:
    """The inputs above hold every field a door accepts (else the checks below prove less)."""
    for command, full, _, _ in SHAPES:
        assert set(full) == command_fields(command, "graphql"), command.__name__


# --- field names per door ----------------------------------------------------------------------

_SDL = graphql.build_schema(schema.as_str())


@pytest.mark.parametrize(("command", "full", "gql_type", "rest_model"), SHAPES, ids=IDS)
def test_graphql_input_has_every_field(
    command: type[Any], full: dict[str, Any], gql_type: str, rest_model: type[Any] | None
) -> None:
    input_type = _SDL.type_map[gql_type]
    assert isinstance(input_type, graphql.GraphQLInputObjectType)
    expected = {to_camel_case(name) for name in command_fields(command, "graphql")}
    assert set(input_type.fields) == expected


@pytest.mark.parametrize(("command", "full", "gql_type", "rest_model"), SHAPES, ids=IDS)
def test_rest_model_has_every_field(
    command: type[Any], full: dict[str, Any], gql_type: str, rest_model: type[BaseModel] | None
) -> None:
    if rest_model is None:
        if command is commands.ConversationQuery:
            return  # query parameters, checked in test_rest_list_parameters
        assert ("rest", command) in NOT_OFFERED
        return
    assert set(rest_model.model_fields) == command_fields(command, "rest")
    for name, extra in EXTRA_NAMES.get(("rest", command), {}).items():
        alias = rest_model.model_fields[name].validation_alias
        assert isinstance(alias, AliasChoices)
        assert set(alias.choices) == {name, *extra}


def test_rest_list_parameters_are_the_query_fields() -> None:
    signature = inspect.signature(rest_conversations.list_conversations)
    paging = {"tenant", "db", "page", "page_size"}
    assert set(signature.parameters) - paging == command_fields(commands.ConversationQuery, "rest")


# --- each door's translation, on an input holding every field ----------------------------------


def _to_gql(type_: Any, value: Any) -> Any:
    """A JSON value as Strawberry hands it to `to_command` (input objects, enums, datetimes)."""
    if isinstance(type_, StrawberryOptional):
        return _to_gql(type_.of_type, value)
    if isinstance(type_, StrawberryList):
        return [_to_gql(type_.of_type, item) for item in value]
    if isinstance(type_, StrawberryEnumDefinition):
        return type_.wrapped_cls(value)
    if isinstance(type_, type) and issubclass(type_, Enum):
        return type_(value)
    if type_ is datetime:
        return datetime.fromisoformat(value)
    if has_object_definition(type_) and isinstance(value, dict):
        definition = type_.__strawberry_definition__
        return type_(
            **{f.python_name: _to_gql(f.type, value[f.python_name]) for f in definition.fields}
        )
    return value


def via_graphql(command: type[Any], full: dict[str, Any], gql_type: str) -> Any:
    cls = GQL_CLASSES[gql_type]
    built = _to_gql(cls, full)
    convert: Callable[[], Any] = getattr(built, "to_command", None) or built.to_query
    return convert()


def via_rest(command: type[Any], full: dict[str, Any], model: type[Any]) -> Any:
    return model.model_validate(full).to_command()


class _Recorded(Exception):
    pass


async def via_worker(
    monkeypatch: pytest.MonkeyPatch, command: type[Any], full: dict[str, Any]
) -> Any:
    action_type, address = WORKER_ACTIONS[command]
    spec = default_registry().get(action_type)
    assert spec is not None, action_type
    module = sys.modules[spec.handler.__module__]
    seen: list[Any] = []

    async def record(*args: Any, **kwargs: Any) -> Any:
        seen.extend(a for a in (*args, *kwargs.values()) if isinstance(a, command))
        raise _Recorded

    services = [
        name
        for name, obj in vars(module).items()
        if inspect.iscoroutinefunction(obj)
        and getattr(obj, "__module__", "").startswith("conversation_service.domain")
    ]
    assert services, f"{module.__name__} calls no domain service by name: adapt this test"
    for name in services:
        monkeypatch.setattr(module, name, record)
    envelope = DomainAction.model_validate(
        {
            "action_id": str(uuid.uuid4()),
            "action_type": action_type,
            "timestamp": datetime.now(UTC).isoformat(),
            "tenant_id": "parity",
            # Envelope ids differ from the data's, so a door that reads the envelope shows up.
            "session_id": "envelope-session",
            "task_id": "task-1",
            "agent_id": "envelope-agent",
            "user_id": "envelope-user",
            "origin_service": "parity_test",
            "data": {**full, **address},
        }
    )
    call = SimpleNamespace(
        action=envelope, data=envelope.payload, tenant_id=envelope.tenant_id, db=None, uow=None
    )
    with pytest.raises(_Recorded):
        await spec.handler(call)  # type: ignore[arg-type]
    assert len(seen) == 1, f"{action_type} handed no {command.__name__} to the domain"
    return seen[0]


def _defaults(command: type[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(command):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def assert_every_field_set(door: str, command: type[Any], built: Any) -> None:
    assert isinstance(built, command)
    defaults = _defaults(command)
    unset = sorted(
        name
        for name in command_fields(command, door)
        if getattr(built, name) in (None, UNSET) or getattr(built, name) == defaults.get(name, ...)
    )
    assert unset == [], f"{door} door leaves {command.__name__} fields at their default: {unset}"


@pytest.mark.parametrize(("command", "full", "gql_type", "rest_model"), SHAPES, ids=IDS)
async def test_every_door_sets_every_field_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
    command: type[Any],
    full: dict[str, Any],
    gql_type: str,
    rest_model: type[Any] | None,
) -> None:
    built = {"graphql": via_graphql(command, full, gql_type)}
    if rest_model is not None:
        built["rest"] = via_rest(command, full, rest_model)
    if command in WORKER_ACTIONS:
        built["worker"] = await via_worker(monkeypatch, command, full)
    else:
        assert ("worker", command) in NOT_OFFERED
    for door, value in built.items():
        assert_every_field_set(door, command, value)
    reference = built["graphql"]
    for door, value in built.items():
        assert value == reference, f"{door} translates {command.__name__} unlike GraphQL"


# --- what is written can be read back ----------------------------------------------------------

#: Input fields that come back under another name, or not as a field.
READ_BACK_AS: dict[type[Any], dict[str, str | None]] = {
    commands.NewConversation: {"initial_messages": None},  # they are the conversation's messages
    commands.StateWrite: {"ttl_seconds": "expires_at", "expected_version": "version"},
}
OUTPUTS: list[tuple[type[Any], str, type[BaseModel]]] = [
    (commands.NewMessage, "Message", rest.MessageResponse),
    (commands.NewConversation, "Conversation", rest.ConversationResponse),
    (commands.StateWrite, "StateEntry", rest.StateResponse),
]


@pytest.mark.parametrize(
    ("command", "gql_type", "response"), OUTPUTS, ids=[o[0].__name__ for o in OUTPUTS]
)
def test_every_written_field_is_read_back_by_graphql_and_rest(
    command: type[Any], gql_type: str, response: type[BaseModel]
) -> None:
    renamed = READ_BACK_AS.get(command, {})
    names = {f.name for f in dataclasses.fields(command) if f.name not in renamed}
    names |= {new for new in renamed.values() if new is not None}
    output = _SDL.type_map[gql_type]
    assert isinstance(output, graphql.GraphQLObjectType)
    assert {to_camel_case(n) for n in names} - set(output.fields) == set()
    assert names - set(response.model_fields) == set()
