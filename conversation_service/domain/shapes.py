"""Answers the database shapes itself: a read described as the JSON it must produce.

A nested read (conversations x their messages) spends most of its time in Python turning rows
into records, output objects and JSON. When a query only asks for fields that are plain column
values, the store can build the answer's JSON in one statement and the door forwards the bytes.
This module holds the description (which keys, from which columns, in which order);
`shaped_reads` the services that validate the arguments with the same rules as
`list_conversations` / `list_messages`; the SQL lives in the stores, the GraphQL side in
`schema/shaped.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from conversation_service.domain.pagination import MessageWindow

#: How a column value is written as JSON: text (a JSON string, null when NULL), an integer
#: (null when NULL), an enum (the GraphQL name of the stored value), a constant string.
Kind = Literal["text", "int", "enum", "const"]


@dataclass(frozen=True, slots=True)
class Column:
    """One response key read from one column (`const`: `value` itself, e.g. `__typename`)."""

    key: str
    column: str
    kind: Kind
    #: `enum`: stored value -> output name; `const`: (("", value),)
    names: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MessagesShape:
    """`messages(...) { nodes { ... } }` of a conversation: the window and the node's keys."""

    key: str
    window: MessageWindow
    #: the connection's own keys in order: "nodes" (the list) or a `const` Column (__typename)
    connection: tuple[Column | str, ...]
    fields: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class ConversationShape:
    """One conversation object: its keys in order, plain columns or its messages."""

    fields: tuple[Column | MessagesShape, ...]


def window_of(window: MessageWindow) -> MessageWindow | None:
    """The window validated as `message_slices` validates it; None for a `from_timestamp`
    window (it needs a first query, the first seq since: not shaped)."""
    window = window.validated()
    return None if window.from_timestamp is not None else window
