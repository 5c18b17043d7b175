"""Events of the domain. The public ones (`Event`) are published after commit and carry the
whole record they announce; the internal ones only wake reactions (`domain/reactions.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from conversation_service.domain.records import (
    ConversationRecord,
    CrmSyncRecord,
    MessageRecord,
    StateRecord,
)


@dataclass(slots=True, frozen=True)
class _MessageEvent:
    """What every message event carries: the whole message (subscribers need no query) and
    the conversation's owner ids, so feeds filter by `agentId`/`userId` without a lookup."""

    message: MessageRecord
    conversation_agent_id: str | None = None
    conversation_user_id: str | None = None

    kind = ""

    @property
    def tenant_id(self) -> str:
        return self.message.tenant_id

    @property
    def conversation_id(self) -> str:
        return self.message.conversation_id

    def payload(self) -> dict[str, Any]:
        return {
            "message": self.message.to_dict(),
            "agent_id": self.conversation_agent_id,
            "user_id": self.conversation_user_id,
        }


@dataclass(slots=True, frozen=True)
class MessageAdded(_MessageEvent):
    """A message was committed (`messageAdded`)."""

    kind = "message_added"


@dataclass(slots=True, frozen=True)
class MessageErased(_MessageEvent):
    """A message became a tombstone (retention or erasure): carries the tombstone, so a
    subscriber (an orchestrator's cache) drops what it held of that id."""

    kind = "message_erased"


@dataclass(slots=True, frozen=True)
class MessageAnnotated(_MessageEvent):
    """`annotateMessage` wrote a message's analysis: the whole message, as for MessageAdded."""

    kind = "message_annotated"


@dataclass(slots=True, frozen=True)
class ConversationChanged:
    conversation: ConversationRecord

    @property
    def tenant_id(self) -> str:
        return self.conversation.tenant_id

    @property
    def conversation_id(self) -> str:
        return self.conversation.id

    kind = "conversation_changed"

    def payload(self) -> dict[str, Any]:
        return self.conversation.to_dict()


@dataclass(slots=True, frozen=True)
class StateChanged:
    state: StateRecord

    @property
    def tenant_id(self) -> str:
        return self.state.tenant_id

    @property
    def conversation_id(self) -> str:
        return self.state.conversation_id

    kind = "state_changed"

    def payload(self) -> dict[str, Any]:
        return self.state.to_dict()


Event = MessageAdded | MessageErased | MessageAnnotated | ConversationChanged | StateChanged
#: The event types that are published (to subscribers) after commit.
PUBLISHED: tuple[type, ...] = (
    MessageAdded,
    MessageErased,
    MessageAnnotated,
    ConversationChanged,
    StateChanged,
)


@dataclass(slots=True, frozen=True)
class ConversationCompleted:
    """An update set the status to COMPLETED (internal: the CRM auto-sync reacts to it)."""

    conversation: ConversationRecord


@dataclass(slots=True, frozen=True)
class CrmSyncQueued:
    """A CRM sync request was written (internal: the local sync runner is woken after commit)."""

    sync: CrmSyncRecord


class EventPublisher(Protocol):
    """Where committed events go (in-memory or Redis fan-out)."""

    async def publish(self, events: list[Event]) -> None: ...


class NullPublisher:
    """Publishes nothing: for tools (migrate, benchmarks of raw writes)."""

    async def publish(self, events: list[Event]) -> None:
        return None
