"""SQLModel tables; `metadata` is what Alembic and the test fixtures create."""

from sqlmodel import SQLModel

from conversation_service.models.audit import AuditEntry
from conversation_service.models.conversation import Conversation, ConversationTag
from conversation_service.models.crm_sync import CrmSync
from conversation_service.models.message import Message
from conversation_service.models.source import MessageSource
from conversation_service.models.state import ConversationState
from conversation_service.models.worker_action import WorkerAction

metadata = SQLModel.metadata

conversations = Conversation.__table__  # type: ignore[attr-defined]
conversation_tags = ConversationTag.__table__  # type: ignore[attr-defined]
messages = Message.__table__  # type: ignore[attr-defined]
conversation_state = ConversationState.__table__  # type: ignore[attr-defined]
message_sources = MessageSource.__table__  # type: ignore[attr-defined]
crm_sync = CrmSync.__table__  # type: ignore[attr-defined]
worker_actions = WorkerAction.__table__  # type: ignore[attr-defined]
audit_log = AuditEntry.__table__  # type: ignore[attr-defined]

__all__ = [
    "AuditEntry",
    "Conversation",
    "ConversationState",
    "ConversationTag",
    "CrmSync",
    "Message",
    "MessageSource",
    "WorkerAction",
    "audit_log",
    "conversation_state",
    "conversation_tags",
    "conversations",
    "crm_sync",
    "message_sources",
    "messages",
    "metadata",
    "worker_actions",
]
