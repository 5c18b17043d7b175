"""Sync of conversations to the tenant's CRM: requested, persisted, pushed, recorded.

A request only writes a `crm_sync` row (PENDING, the conversation's current seq): it never calls
the CRM, so it is cheap, transactional with its caller, and survives a crash. The sync runner
(`conversation_service/crm_runner.py`) claims due rows (a lease: `claim_token` and a
`next_attempt_at` in the future; `FOR UPDATE SKIP LOCKED` on PostgreSQL), pushes the conversation
with `Idempotency-Key: {conversation_id}:{seq}`, and records the outcome: SYNCED, or a retry with
exponential backoff, or FAILED after `max_attempts` or a rejection. A seq already recorded as
synced is never pushed again.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from conversation_service.adapters.crm.base import CrmConversation
from conversation_service.config import Settings
from conversation_service.domain import audit
from conversation_service.domain import validation as v
from conversation_service.domain.commands import ConversationChanges
from conversation_service.domain.conversations import update_conversation
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import NotFound
from conversation_service.domain.events import ConversationCompleted, CrmSyncQueued
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import (
    Claim,
    ConversationRecord,
    CrmSyncRecord,
    CrmSyncStatus,
)

__all__ = [
    "NO_CRM",
    "Claim",
    "CrmSyncRecord",
    "CrmSyncStatus",
    "RetryPolicy",
    "build_push",
    "claim_due",
    "crm_sync_states",
    "finish_claim",
    "get_crm_sync",
    "queue_sync_on_completed",
    "request_crm_sync",
]

NO_CRM = "no CRM configured"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_s: float = 2.0
    backoff_max_s: float = 300.0
    lease_s: float = 60.0

    @classmethod
    def from_settings(cls, s: Settings) -> RetryPolicy:
        return cls(s.crm_sync_max_attempts, s.crm_sync_backoff_s, s.crm_sync_backoff_max_s,
                   s.crm_sync_lease_s)  # fmt: skip

    def delay(self, attempts: int) -> float:
        """Exponential backoff with +-10% jitter, so many failed rows do not retry in step."""
        base = min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1))
        return float(base * random.uniform(0.9, 1.1))


# --- requests --------------------------------------------------------------------------------


async def _enqueue(uow: UnitOfWork, conversation_id: str, seq: int) -> CrmSyncRecord:
    """Persist a request for `seq` (idempotent: an equal or newer pending/synced seq wins);
    the local runner is woken after commit (`CrmSyncQueued`)."""
    now = uow.now()
    store = uow.crm_sync
    record = await store.insert_pending(conversation_id, seq, now)
    if record is None:
        record = await _requeue(uow, conversation_id, seq)
    uow.add_event(CrmSyncQueued(record))
    return record


async def _requeue(uow: UnitOfWork, conversation_id: str, seq: int) -> CrmSyncRecord:
    now = uow.now()
    current, claimed = await uow.crm_sync.lock(conversation_id)
    if current.status is CrmSyncStatus.SYNCED and (current.last_synced_seq or 0) >= seq:
        return current  # nothing new since the last push
    if current.status is CrmSyncStatus.PENDING and (current.requested_seq or 0) >= seq:
        return current  # already queued
    newer = seq > (current.requested_seq or 0)
    values: dict[str, Any] = {
        "status": CrmSyncStatus.PENDING.value,
        "requested_seq": max(seq, current.requested_seq or 0),
        # attempts count for the newest requested seq; a FAILED request asked again starts over
        "attempts": 0 if newer or current.status is CrmSyncStatus.FAILED else current.attempts,
        "error": None,
        "requested_at": now,
        "updated_at": now,
    }
    if not claimed:
        values["next_attempt_at"] = now  # else: in flight; its runner re-queues on completion
    return await uow.crm_sync.update(conversation_id, values)


async def request_crm_sync(
    uow: UnitOfWork,
    conversation_id: str,
    *,
    customer_id: str | None = None,
    customer_info: dict[str, Any] | None = None,
) -> CrmSyncRecord:
    """Queue a sync of the conversation at its current seq; returns the sync state (PENDING,
    or SYNCED when that seq was already pushed). A tenant without a CRM gets NONE with error
    "no CRM configured" and nothing is queued. Unknown conversation: NotFound.

    `customer_id` / `customer_info` (the actions' `crm_entity_id` / `customer_info`) first link
    the conversation to its customer (`crmReferences.customer_id`, `customerInfo`), in the same
    transaction, so the push carries it."""
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    v.identifier(customer_id, "crm_entity_id")
    v.optional_json_object(customer_info, "customer_info")
    facts = await uow.conversations.sync_facts(conversation_id)
    if facts is None:
        raise NotFound(f"conversation {conversation_id} not found")
    last_seq, crm_references = facts
    if customer_id is not None or customer_info is not None:
        changes = ConversationChanges()
        if customer_id is not None:
            changes.crm_references = {**crm_references, "customer_id": customer_id}
        if customer_info is not None:
            changes.customer_info = customer_info
        await update_conversation(uow, conversation_id, changes)
    if uow.crm.config_for(uow.tenant_id) is None:
        return CrmSyncRecord.none(uow.tenant_id, conversation_id, NO_CRM)
    uow.audit(audit.CRM_SYNC, conversation_id)
    return await _enqueue(uow, conversation_id, last_seq)


async def queue_sync_on_completed(uow: UnitOfWork, event: ConversationCompleted) -> None:
    """Reaction to `ConversationCompleted`, in the same transaction: queue a sync when the
    tenant's CRM has `auto_sync_on_complete`."""
    record = event.conversation
    if record.status is not ConversationStatus.COMPLETED:
        return
    config = uow.crm.config_for(record.tenant_id)
    if config is None or not config.auto_sync_on_complete:
        return
    await _enqueue(uow, record.id, record.last_seq)


# --- reads -----------------------------------------------------------------------------------


async def crm_sync_states(uow: UnitOfWork, conversation_ids: list[str]) -> dict[str, CrmSyncRecord]:
    """Sync state of many conversations in one query (NONE for the never-synced)."""
    tenant_id = uow.tenant_id
    if uow.crm.config_for(tenant_id) is None:
        return {i: CrmSyncRecord.none(tenant_id, i, NO_CRM) for i in conversation_ids}
    found = await uow.crm_sync.states(conversation_ids)
    return {i: found.get(i) or CrmSyncRecord.none(tenant_id, i) for i in conversation_ids}


async def get_crm_sync(uow: UnitOfWork, conversation_id: str) -> CrmSyncRecord:
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    return (await crm_sync_states(uow, [conversation_id]))[conversation_id]


# --- the runner's steps (each in its own unit of work; the runner is crm_runner.py) ----------


async def claim_due(uow: UnitOfWork, limit: int, lease_s: float) -> list[Claim]:
    """Take up to `limit` due requests of any tenant under a lease."""
    now = uow.now()
    token = str(uuid.uuid4())
    return await uow.crm_sync.claim_due(limit, now + timedelta(seconds=lease_s), now, token)


async def finish_claim(
    uow: UnitOfWork, claim: Claim, decide: Callable[[CrmSyncRecord], dict[str, Any]]
) -> CrmSyncRecord | None:
    """Apply `decide(current) -> values` to the row if this claim still holds it."""
    current = await uow.crm_sync.lock_claim(claim)
    if current is None:
        return None  # the lease expired and another runner took over
    values = decide(current)
    values.update(claim_token=None, updated_at=uow.now())
    return await uow.crm_sync.update(claim.conversation_id, values)


def build_push(record: ConversationRecord) -> CrmConversation:
    summary = record.metadata.get("summary")
    email = (record.customer_info or {}).get("email")
    customer_id = record.crm_references.get("customer_id")
    return CrmConversation(
        conversation_id=record.id,
        tenant_id=record.tenant_id,
        customer_id=str(customer_id) if customer_id not in (None, "") else None,
        customer_email=email if isinstance(email, str) else None,
        status=record.status.value,
        summary=summary if isinstance(summary, str) else record.title,
        message_count=record.message_count,
        total_tokens=record.total_tokens,
        last_seq=record.last_seq,
        started_at=record.created_at,
        last_message_at=record.last_message_at,
        tags=record.tags,
        metadata=record.metadata,
    )
