"""GraphQL types of the data lifecycle: retention policies and erasure receipts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from conversation_service.domain.erasure import ErasureSubject
from conversation_service.domain.records import ErasureReceiptRecord
from conversation_service.domain.retention import EffectivePolicy, RetentionChanges
from conversation_service.schema.inputs import _opt
from conversation_service.schema.scalars import JSON


@strawberry.type(
    description="How long the tenant's data is kept, in days (RETENTION_DEFAULT_DAYS where the "
    "tenant set nothing). Applied by `conversation-service retention run` and the worker's "
    "schedule."
)
class RetentionPolicy:
    messages_days: int = strawberry.field(
        description="Messages older than this become tombstones (erased: true, seq kept)."
    )
    state_days: int = strawberry.field(
        description="State entries not written for this long are deleted."
    )
    archive_after_days: int = strawberry.field(
        description="Conversations without a message for this long become ARCHIVED."
    )
    audit_days: int = strawberry.field(description="Audit entries older than this are deleted.")
    default_days: int = strawberry.field(
        description="RETENTION_DEFAULT_DAYS: the value of every period the tenant did not set."
    )
    defaulted: list[str] = strawberry.field(
        description="The fields (messagesDays, stateDays, archiveAfterDays, auditDays) that "
        "take the default because the tenant did not set them."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the tenant last set its policy; null when it never did."
    )

    @classmethod
    def from_policy(cls, p: EffectivePolicy) -> RetentionPolicy:
        s = p.stored
        names = {
            "messagesDays": s.messages_days,
            "stateDays": s.state_days,
            "archiveAfterDays": s.archive_after_days,
            "auditDays": s.audit_days,
        }
        return cls(
            messages_days=p.messages_days,
            state_days=p.state_days,
            archive_after_days=p.archive_after_days,
            audit_days=p.audit_days,
            default_days=p.default_days,
            defaulted=[name for name, value in names.items() if value is None],
            updated_at=s.updated_at,
        )


@strawberry.input(
    description="Retention periods in days (1..36500). A field left out keeps its value; null "
    "puts it back to RETENTION_DEFAULT_DAYS."
)
class SetRetentionPolicyInput:
    messages_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days messages are kept before they are erased."
    )
    state_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days a state entry is kept after its last write."
    )
    archive_after_days: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Days without a message after which a conversation is archived.",
    )
    audit_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Days audit entries are kept."
    )

    def to_command(self) -> RetentionChanges:
        return RetentionChanges(
            messages_days=_opt(self.messages_days),
            state_days=_opt(self.state_days),
            archive_after_days=_opt(self.archive_after_days),
            audit_days=_opt(self.audit_days),
        )


@strawberry.input(
    description="Whose data to erase: a user id (conversations whose userId it is), a customer "
    "e-mail (conversations whose customerInfo.email it is, any case), conversation ids, or "
    "several of them (their union). At least one."
)
class EraseSubjectInput:
    user_id: str | None = strawberry.field(
        default=None, description="Erase the conversations of this user."
    )
    customer_email: str | None = strawberry.field(
        default=None, description="Erase the conversations of this customer e-mail."
    )
    conversation_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Erase these conversations (at most 1000)."
    )

    def to_command(self) -> ErasureSubject:
        return ErasureSubject(
            user_id=self.user_id,
            customer_email=self.customer_email,
            conversation_ids=[str(i) for i in self.conversation_ids or []],
        )


@strawberry.type(
    description="What one erasure removed, kept as its proof (re-read with erasureReceipt). "
    "An erasure that finds nothing left of its subject returns the receipt of the last "
    "erasure of the same subject unchanged."
)
class ErasureReceipt:
    id: strawberry.ID = strawberry.field(description="The receipt's id.")
    at: datetime = strawberry.field(description="When the erasure committed.")
    conversations: int = strawberry.field(
        description="Conversations this erasure changed (messages, state or fields removed)."
    )
    messages: int = strawberry.field(description="Messages turned into tombstones.")
    state_entries: int = strawberry.field(description="State entries deleted.")
    sources: int = strawberry.field(description="RAG source links deleted.")
    subject: JSON = strawberry.field(
        description="Whose data: {userId, customerEmailSha256, conversationIds} (the e-mail is "
        "kept only as its SHA-256 of the lowercased address)."
    )

    @classmethod
    def from_record(cls, r: ErasureReceiptRecord) -> ErasureReceipt:
        return cls(
            id=strawberry.ID(r.id),
            at=r.at,
            conversations=r.conversations,
            messages=r.messages,
            state_entries=r.state_entries,
            sources=r.sources,
            subject=r.subject,
        )
