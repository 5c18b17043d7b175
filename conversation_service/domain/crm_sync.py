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

import asyncio
import logging
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from conversation_service.adapters.crm.base import CrmConversation
from conversation_service.adapters.crm.errors import CrmCircuitOpen, CrmError
from conversation_service.adapters.crm.service import CrmService, crm_of
from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.config import Settings
from conversation_service.domain import validation as v
from conversation_service.domain.clock import utcnow
from conversation_service.domain.conversations import get_conversation_or_none
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.errors import NotFound
from conversation_service.domain.records import ConversationRecord
from conversation_service.models import conversations, crm_sync

log = logging.getLogger("conversation_service.crm")
S = crm_sync.c
C = conversations.c
NO_CRM = "no CRM configured"


class CrmSyncStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


@dataclass(slots=True)
class CrmSyncRecord:
    tenant_id: str
    conversation_id: str
    status: CrmSyncStatus
    requested_seq: int | None = None
    last_synced_seq: int | None = None
    synced_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    crm_id: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> CrmSyncRecord:
        m = row._mapping
        return cls(
            tenant_id=m["tenant_id"],
            conversation_id=m["conversation_id"],
            status=CrmSyncStatus(m["status"]),
            requested_seq=m["requested_seq"],
            last_synced_seq=m["last_synced_seq"],
            synced_at=m["synced_at"],
            attempts=m["attempts"],
            error=m["error"],
            next_attempt_at=m["next_attempt_at"],
            crm_id=m["crm_id"],
        )

    @classmethod
    def none(cls, tenant_id: str, conversation_id: str, error: str | None = None) -> CrmSyncRecord:
        return cls(tenant_id, conversation_id, CrmSyncStatus.NONE, error=error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strings and ISO-8601 times): the worker's reply data."""
        d = asdict(self)
        d["status"] = self.status.value.upper()  # the contract names: NONE, PENDING, SYNCED, FAILED
        for k in ("synced_at", "next_attempt_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


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


def _insert(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _enqueue(tx: UnitOfWork, tenant_id: str, conversation_id: str, seq: int) -> CrmSyncRecord:
    """Persist a request for `seq` (idempotent: an equal or newer pending/synced seq wins)."""
    now = utcnow()
    ins = (
        _insert(tx.dialect)(crm_sync)
        .values(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            status=CrmSyncStatus.PENDING.value,
            requested_seq=seq,
            attempts=0,
            next_attempt_at=now,
            requested_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "conversation_id"])
        .returning(*crm_sync.c)
    )
    row = (await tx.conn.execute(ins)).first()
    if row is not None:
        return CrmSyncRecord.from_row(row)
    row = (
        await tx.conn.execute(
            select(crm_sync)
            .where(S.tenant_id == tenant_id, S.conversation_id == conversation_id)
            .with_for_update()
        )
    ).one()
    current = CrmSyncRecord.from_row(row)
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
    if row._mapping["claim_token"] is None:
        values["next_attempt_at"] = now  # else: in flight; its runner re-queues on completion
    row = (
        await tx.conn.execute(
            update(crm_sync)
            .where(S.tenant_id == tenant_id, S.conversation_id == conversation_id)
            .values(**values)
            .returning(*crm_sync.c)
        )
    ).one()
    return CrmSyncRecord.from_row(row)


async def request_crm_sync(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    *,
    uow: UnitOfWork | None = None,
    customer_id: str | None = None,
    customer_info: dict[str, Any] | None = None,
) -> CrmSyncRecord:
    """Queue a sync of the conversation at its current seq; returns the sync state (PENDING,
    or SYNCED when that seq was already pushed). A tenant without a CRM gets NONE with error
    "no CRM configured" and nothing is written. Unknown conversation: NotFound.

    `customer_id` / `customer_info` (the actions' `crm_entity_id` / `customer_info`) first link
    the conversation to its customer (`crmReferences.customer_id`, `customerInfo`), in the same
    transaction, so the push carries it."""
    from conversation_service.domain.commands import ConversationChanges
    from conversation_service.domain.conversations import update_conversation

    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    v.identifier(customer_id, "crm_entity_id")
    v.optional_json_object(customer_info, "customer_info")
    crm = crm_of(db)
    async with db.transaction(uow) as tx:
        row = (
            await tx.conn.execute(
                select(C.last_seq, C.crm_references).where(
                    C.tenant_id == tenant_id, C.id == conversation_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        if customer_id is not None or customer_info is not None:
            changes = ConversationChanges()
            if customer_id is not None:
                changes.crm_references = {**(row.crm_references or {}), "customer_id": customer_id}
            if customer_info is not None:
                changes.customer_info = customer_info
            await update_conversation(db, tenant_id, conversation_id, changes, uow=tx)
        if crm.config_for(tenant_id) is None:
            return CrmSyncRecord.none(tenant_id, conversation_id, NO_CRM)
        record = await _enqueue(tx, tenant_id, conversation_id, int(row.last_seq))
        tx.after_commit(crm.notify)
    return record


async def sync_on_status_change(db: Database, tx: UnitOfWork, record: ConversationRecord) -> None:
    """Hook of `update_conversation`: queue a sync, in the same transaction, when a conversation
    is COMPLETED and its tenant's CRM has `auto_sync_on_complete`."""
    if record.status is not ConversationStatus.COMPLETED:
        return
    crm = crm_of(db)
    config = crm.config_for(record.tenant_id)
    if config is None or not config.auto_sync_on_complete:
        return
    await _enqueue(tx, record.tenant_id, record.id, record.last_seq)
    tx.after_commit(crm.notify)


# --- reads -----------------------------------------------------------------------------------


async def crm_sync_states(
    db: Database, tenant_id: str, conversation_ids: list[str]
) -> dict[str, CrmSyncRecord]:
    """Sync state of many conversations in one query (NONE for the never-synced)."""
    if crm_of(db).config_for(tenant_id) is None:
        return {i: CrmSyncRecord.none(tenant_id, i, NO_CRM) for i in conversation_ids}
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(crm_sync).where(
                    S.tenant_id == tenant_id, S.conversation_id.in_(conversation_ids)
                )
            )
        ).all()
    found = {r.conversation_id: CrmSyncRecord.from_row(r) for r in rows}
    return {i: found.get(i) or CrmSyncRecord.none(tenant_id, i) for i in conversation_ids}


async def get_crm_sync(db: Database, tenant_id: str, conversation_id: str) -> CrmSyncRecord:
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    return (await crm_sync_states(db, tenant_id, [conversation_id]))[conversation_id]


# --- the runner's steps ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    tenant_id: str
    conversation_id: str
    token: str
    last_synced_seq: int | None


async def claim_due(db: Database, limit: int, lease_s: float) -> list[Claim]:
    """Take up to `limit` due requests under a lease. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    concurrent runners never take the same row; SQLite: writes are serialised (one writer)."""
    now = utcnow()
    token = str(uuid.uuid4())
    due = (
        select(S.tenant_id, S.conversation_id)
        .where(S.status == CrmSyncStatus.PENDING.value, S.next_attempt_at <= now)
        .order_by(S.next_attempt_at)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(crm_sync)
        .where(tuple_(S.tenant_id, S.conversation_id).in_(due))
        .values(claim_token=token, next_attempt_at=now + timedelta(seconds=lease_s))
        .returning(S.tenant_id, S.conversation_id, S.last_synced_seq)
    )
    async with db.transaction() as tx:
        rows = (await tx.conn.execute(stmt)).all()
    return [Claim(r.tenant_id, r.conversation_id, token, r.last_synced_seq) for r in rows]


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


async def _finish(db: Database, claim: Claim, decide: Any) -> CrmSyncRecord | None:
    """Apply `decide(current) -> values` to the row if this claim still holds it."""
    async with db.transaction() as tx:
        row = (
            await tx.conn.execute(
                select(crm_sync)
                .where(
                    S.tenant_id == claim.tenant_id,
                    S.conversation_id == claim.conversation_id,
                    S.claim_token == claim.token,
                )
                .with_for_update()
            )
        ).first()
        if row is None:
            return None  # the lease expired and another runner took over
        values = decide(CrmSyncRecord.from_row(row))
        values.update(claim_token=None, updated_at=utcnow())
        row = (
            await tx.conn.execute(
                update(crm_sync)
                .where(S.tenant_id == claim.tenant_id, S.conversation_id == claim.conversation_id)
                .values(**values)
                .returning(*crm_sync.c)
            )
        ).one()
    return CrmSyncRecord.from_row(row)


async def process_claim(
    db: Database, crm: CrmService, claim: Claim, policy: RetryPolicy
) -> CrmSyncRecord | None:
    """Push one claimed conversation and record the outcome."""
    record = await get_conversation_or_none(db, claim.tenant_id, claim.conversation_id)
    pair = crm.client_for(claim.tenant_id)
    now = utcnow()

    def failed_without_attempt(error: str) -> Any:
        return lambda cur: {"status": CrmSyncStatus.FAILED.value, "error": error,
                            "next_attempt_at": None}  # fmt: skip

    if record is None:
        return await _finish(db, claim, failed_without_attempt("conversation not found"))
    if pair is None:
        return await _finish(db, claim, failed_without_attempt(NO_CRM))
    seq = record.last_seq

    def synced(crm_id: str | None, counted: bool) -> Any:
        def decide(cur: CrmSyncRecord) -> dict[str, Any]:
            done = (cur.requested_seq or 0) <= seq
            values: dict[str, Any] = {
                "last_synced_seq": max(seq, cur.last_synced_seq or 0),
                "status": (CrmSyncStatus.SYNCED if done else CrmSyncStatus.PENDING).value,
                "next_attempt_at": None if done else utcnow(),
                "error": None,
            }
            if counted:
                values["synced_at"] = utcnow()
                values["crm_id"] = crm_id
                values["attempts"] = cur.attempts + 1 if done else cur.attempts
            return values

        return decide

    if claim.last_synced_seq is not None and claim.last_synced_seq >= seq:
        return await _finish(db, claim, synced(None, counted=False))  # never push a seq twice
    config, client = pair
    push = build_push(record)
    try:
        crm_id = await asyncio.wait_for(client.push_conversation(push), config.timeout_s * 3)
    except CrmCircuitOpen as exc:
        wait = max(0.0, exc.retry_at - time.monotonic())
        message = exc.message
        return await _finish(
            db,
            claim,
            lambda cur: {"error": message, "next_attempt_at": now + timedelta(seconds=wait)},
        )
    except (CrmError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, CrmError) else "CRM push timed out"
        retryable = exc.retryable if isinstance(exc, CrmError) else True
    except Exception:
        log.exception("tenant %s: unexpected error pushing a conversation to the CRM",
                      claim.tenant_id)  # fmt: skip
        message, retryable = "unexpected error while pushing to the CRM", True
    else:
        crm.stats["pushes"] += 1
        return await _finish(db, claim, synced(crm_id, counted=True))

    crm.stats["push_errors"] += 1
    log.warning("tenant %s: CRM sync of %s failed: %s", claim.tenant_id, claim.conversation_id,
                message)  # fmt: skip

    def failure(cur: CrmSyncRecord) -> dict[str, Any]:
        attempts = cur.attempts + 1
        give_up = not retryable or attempts >= policy.max_attempts
        return {
            "attempts": attempts,
            "error": message,
            "status": (CrmSyncStatus.FAILED if give_up else CrmSyncStatus.PENDING).value,
            "next_attempt_at": None
            if give_up
            else utcnow() + timedelta(seconds=policy.delay(attempts)),
        }

    return await _finish(db, claim, failure)


async def run_due(db: Database, crm: CrmService, policy: RetryPolicy, batch: int) -> int:
    """One pass: claim what is due and push it concurrently; returns how many were claimed."""
    claims = await claim_due(db, batch, policy.lease_s)
    if claims:
        results = await asyncio.gather(
            *(process_claim(db, crm, c, policy) for c in claims), return_exceptions=True
        )
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # The lease expires and a later pass takes the row again.
                log.error("CRM sync of %s failed unexpectedly", claim.conversation_id,
                          exc_info=result)  # fmt: skip
    return len(claims)
