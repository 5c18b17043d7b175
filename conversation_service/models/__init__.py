"""SQLModel tables; `metadata` is what Alembic and the test fixtures create."""

from sqlmodel import SQLModel

from conversation_service.models.api_key import ApiKey
from conversation_service.models.audit import AuditEntry
from conversation_service.models.conversation import Conversation, ConversationTag
from conversation_service.models.crm_sync import CrmSync
from conversation_service.models.lifecycle import ErasureReceipt, MaintenanceLease, RetentionPolicy
from conversation_service.models.message import Message
from conversation_service.models.source import MessageSource
from conversation_service.models.state import ConversationState
from conversation_service.models.worker_action import WorkerAction

metadata = SQLModel.metadata

api_keys = ApiKey.__table__  # type: ignore[attr-defined]
conversations = Conversation.__table__  # type: ignore[attr-defined]
conversation_tags = ConversationTag.__table__  # type: ignore[attr-defined]
messages = Message.__table__  # type: ignore[attr-defined]
conversation_state = ConversationState.__table__  # type: ignore[attr-defined]
message_sources = MessageSource.__table__  # type: ignore[attr-defined]
crm_sync = CrmSync.__table__  # type: ignore[attr-defined]
worker_actions = WorkerAction.__table__  # type: ignore[attr-defined]
retention_policies = RetentionPolicy.__table__  # type: ignore[attr-defined]
erasure_receipts = ErasureReceipt.__table__  # type: ignore[attr-defined]
maintenance_leases = MaintenanceLease.__table__  # type: ignore[attr-defined]
audit_log = AuditEntry.__table__  # type: ignore[attr-defined]

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Conversation",
    "ConversationState",
    "ConversationTag",
    "CrmSync",
    "ErasureReceipt",
    "MaintenanceLease",
    "Message",
    "MessageSource",
    "RetentionPolicy",
    "WorkerAction",
    "api_keys",
    "audit_log",
    "conversation_state",
    "conversation_tags",
    "conversations",
    "crm_sync",
    "erasure_receipts",
    "maintenance_leases",
    "message_sources",
    "messages",
    "metadata",
    "retention_policies",
    "worker_actions",
]
