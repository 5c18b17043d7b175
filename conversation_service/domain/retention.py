"""Retention rules: per-tenant policies (days per data type, RETENTION_DEFAULT_DAYS where
unset) and the bounded steps a retention run is made of.

Each step handles at most one batch in the caller's unit of work (one short transaction), so a
run never holds locks for long: messages older than `messagesDays` become tombstones, state
entries not written for `stateDays` are deleted, audit entries older than `auditDays` are
deleted, and conversations without a message for `archiveAfterDays` (or, without messages,
since they were created) become ARCHIVED through the ordinary status change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from conversation_service.domain import validation as v
from conversation_service.domain.commands import UNSET, ConversationChanges, _Unset
from conversation_service.domain.conversations import update_conversation
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import Conflict, ValidationFailed
from conversation_service.domain.events import StateChanged
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import (
    ConversationRecord,
    RetentionPolicyRecord,
    StateRecord,
)
from conversation_service.domain.tombstones import tombstone_messages

#: At most 100 years: a policy is days, and datetimes end at year 9999.
MAX_DAYS = 36_500
#: The statuses archiving looks at (ARCHIVED itself is never read again).
ARCHIVABLE = (
    ConversationStatus.ACTIVE,
    ConversationStatus.COMPLETED,
    ConversationStatus.TRANSFERRED,
)
POLICY_FIELDS = ("messages_days", "state_days", "archive_after_days", "audit_days")


@dataclass(slots=True)
class RetentionChanges:
    """Fields left UNSET keep their value; None puts one back to the default."""

    messages_days: int | _Unset | None = UNSET
    state_days: int | _Unset | None = UNSET
    archive_after_days: int | _Unset | None = UNSET
    audit_days: int | _Unset | None = UNSET


@dataclass(slots=True, frozen=True)
class EffectivePolicy:
    """A tenant's policy with the defaults filled in; `stored` is what the tenant set."""

    tenant_id: str
    messages_days: int
    state_days: int
    archive_after_days: int
    audit_days: int
    default_days: int
    stored: RetentionPolicyRecord

    def cutoffs(self, now: datetime) -> Cutoffs:
        return Cutoffs(
            messages=now - timedelta(days=self.messages_days),
            state=now - timedelta(days=self.state_days),
            archive=now - timedelta(days=self.archive_after_days),
            audit=now - timedelta(days=self.audit_days),
        )


@dataclass(slots=True, frozen=True)
class Cutoffs:
    """Everything strictly older than these instants is due (a message created exactly
    `messagesDays` ago is kept until the next instant)."""

    messages: datetime
    state: datetime
    archive: datetime
    audit: datetime


def effective(record: RetentionPolicyRecord, default_days: int) -> EffectivePolicy:
    def days(value: int | None) -> int:
        return default_days if value is None else value

    return EffectivePolicy(
        tenant_id=record.tenant_id,
        messages_days=days(record.messages_days),
        state_days=days(record.state_days),
        archive_after_days=days(record.archive_after_days),
        audit_days=days(record.audit_days),
        default_days=default_days,
        stored=record,
    )


async def get_retention_policy(uow: UnitOfWork) -> EffectivePolicy:
    stored = await uow.retention.policy() or RetentionPolicyRecord(uow.tenant_id)
    return effective(stored, uow.settings.retention_default_days)


async def set_retention_policy(uow: UnitOfWork, changes: RetentionChanges) -> EffectivePolicy:
    """Admin: set some of the tenant's retention periods (audited as `retention.set`)."""
    values: dict[str, int | None] = {}
    for f in fields(changes):
        value = getattr(changes, f.name)
        if isinstance(value, _Unset):
            continue
        if value is not None:
            v.positive(value, f.name, MAX_DAYS)
        values[f.name] = value
    if not values:
        stored = await uow.retention.policy() or RetentionPolicyRecord(uow.tenant_id)
    else:
        stored = await uow.retention.save_policy(values, uow.now())
    uow.audit("retention.set", uow.tenant_id)
    return effective(stored, uow.settings.retention_default_days)


@dataclass(slots=True)
class Step:
    """What one batch did, and where the next one starts (None: the step is finished)."""

    done: int
    more: bool
    after: tuple[datetime, str] | None = None


async def archive_idle_batch(
    uow: UnitOfWork,
    status: ConversationStatus,
    cutoff: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Step:
    """Archive the idle conversations of one window of `limit` conversations (of one status,
    created before the cutoff). Each goes through `update_conversation`, so subscribers get
    `conversationChanged` and the status-change reactions run, compare-and-set on the version
    read: a conversation that got a message meanwhile is left alone."""
    window = await uow.conversations.not_archived_created_before(status, cutoff, after, limit)
    archived = 0
    for conv in window:
        if not _idle(conv, cutoff):
            continue
        try:
            await update_conversation(
                uow,
                conv.id,
                ConversationChanges(
                    status=ConversationStatus.ARCHIVED, expected_version=conv.version
                ),
            )
        except Conflict:  # changed since the window was read: not idle any more, or next run
            continue
        uow.audit("retention.archive", conv.id)
        archived += 1
    more = len(window) == limit
    last = window[-1] if window else None
    return Step(archived, more, (last.created_at, last.id) if last is not None else None)


def _idle(conv: ConversationRecord, cutoff: datetime) -> bool:
    return (conv.last_message_at or conv.created_at) < cutoff


async def erase_expired_messages_batch(uow: UnitOfWork, cutoff: datetime, limit: int) -> Step:
    """Tombstone up to `limit` of the oldest messages created before the cutoff."""
    ids = await uow.messages.live_ids_older_than(cutoff, limit)
    done = await tombstone_messages(uow, ids)
    return Step(len(done.messages), len(ids) == limit)


async def delete_expired_state_batch(uow: UnitOfWork, cutoff: datetime, limit: int) -> Step:
    """Delete up to `limit` state entries not written since the cutoff; a live one is
    announced on `stateChanged` as deleted (value null, next version)."""
    deleted = await uow.state.delete_older_than(cutoff, limit)
    now = uow.now()
    for entry in deleted:
        if entry.value is not None and (entry.expires_at is None or entry.expires_at > now):
            uow.add_event(StateChanged(_deleted(entry, now)))
    return Step(len(deleted), len(deleted) == limit)


def _deleted(entry: StateRecord, now: datetime) -> StateRecord:
    return StateRecord(
        tenant_id=entry.tenant_id,
        conversation_id=entry.conversation_id,
        key=entry.key,
        value=None,
        state_type=entry.state_type,
        version=entry.version + 1,
        expires_at=now,
        updated_at=now,
    )


async def purge_audit_batch(uow: UnitOfWork, cutoff: datetime, limit: int) -> Step:
    """Delete up to `limit` audit entries older than the cutoff (none while the deployment has
    no audit table)."""
    if not await uow.retention.audit_table_exists():
        return Step(0, False)
    done = await uow.retention.purge_audit(cutoff, limit)
    return Step(done, done == limit)


@dataclass(slots=True)
class Due:
    """What a run would do now (`--dry-run`)."""

    archive: int = 0
    messages: int = 0
    state: int = 0
    audit: int | None = 0


async def count_due(uow: UnitOfWork, cutoffs: Cutoffs) -> Due:
    audit = None
    if await uow.retention.audit_table_exists():
        audit = await uow.retention.count_audit(cutoffs.audit)
    return Due(
        archive=await uow.conversations.count_idle(cutoffs.archive),
        messages=await uow.messages.count_live_older_than(cutoffs.messages),
        state=await uow.state.count_older_than(cutoffs.state),
        audit=audit,
    )


async def retention_tenants(uow: UnitOfWork) -> list[str]:
    return await uow.retention.tenants()


@dataclass(slots=True)
class TenantRun:
    """What a run did for one tenant."""

    tenant_id: str
    policy: EffectivePolicy
    archived: int = 0
    messages: int = 0
    state: int = 0
    audit: int | None = 0
    dry_run: bool = False
    seconds: float = 0.0


async def record_run(uow: UnitOfWork, run: TenantRun) -> None:
    """One audit entry per tenant and run (`retention.run`)."""
    uow.audit("retention.run", uow.tenant_id)


def check_now(now: datetime | None) -> None:
    if now is not None and now.tzinfo is None:
        raise ValidationFailed("now needs a time zone (ISO-8601 with an offset)", field="now")
