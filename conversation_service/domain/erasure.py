"""Erasure of a subject (right to be forgotten): by user id, customer e-mail and/or ids.

One transaction: every message of the subject's conversations becomes a tombstone (see
`tombstones.py`), their sources and search entries go with the content, their state entries
are deleted, the conversations lose title, metadata, participants, customer info, CRM
references, user and session ids (status, tags, agent and counters stay), their CRM sync rows
and the worker's stored answers about them are dropped, and the subject's cached CRM customers
are deleted from the customer cache (Redis when configured). The receipt commits with it.

Idempotent: an erasure that finds nothing left to erase writes nothing and returns the receipt
of the last erasure of the same subject (same id, time and counts). An erasure that finds
something new (messages written after the first one, a new conversation of the user) erases
that and gets a receipt of its own counting what it erased.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from conversation_service.domain import validation as v
from conversation_service.domain.crm_customers import cache_key, customer_link
from conversation_service.domain.errors import ValidationFailed
from conversation_service.domain.events import ConversationChanged
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, ErasureReceiptRecord
from conversation_service.domain.tombstones import tombstone_messages

MAX_IDS = 1000
#: What an erased conversation keeps of its row: id, status, tags, agent, counters, times.
SCRUBBED: dict[str, Any] = {
    "title": None,
    "metadata": {},
    "participants": [],
    "customer_info": None,
    "crm_references": {},
    "user_id": None,
    "session_id": None,
}


@dataclass(slots=True)
class ErasureSubject:
    user_id: str | None = None
    customer_email: str | None = None
    conversation_ids: list[str] = field(default_factory=list)

    def validated(self) -> ErasureSubject:
        v.identifier(self.user_id, "user_id")
        email = self.customer_email
        if email is not None:
            email = email.strip().lower()
            if "@" not in email or len(email) > v.MAX_ID_CHARS:
                raise ValidationFailed("customer_email must be an e-mail address",
                                       field="customer_email")  # fmt: skip
        if len(self.conversation_ids) > MAX_IDS:
            raise ValidationFailed(
                f"conversation_ids may hold at most {MAX_IDS} ids", field="conversation_ids"
            )
        ids = sorted({v.uuid_id(i, "conversation_ids") for i in self.conversation_ids})
        if self.user_id is None and email is None and not ids:
            raise ValidationFailed(
                "name the subject: userId, customerEmail or conversationIds", field="user_id"
            )
        return ErasureSubject(self.user_id, email, ids)

    def stored(self) -> dict[str, Any]:
        """What the receipt keeps of the subject: the e-mail only as its SHA-256 (the receipt
        proves an erasure of that address without keeping it)."""
        return {
            "userId": self.user_id,
            "customerEmailSha256": hashlib.sha256(self.customer_email.encode()).hexdigest()
            if self.customer_email is not None
            else None,
            "conversationIds": self.conversation_ids,
        }

    def key(self) -> str:
        return hashlib.sha256(orjson.dumps(self.stored(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _needs_scrub(c: ConversationRecord) -> bool:
    return any(
        (
            c.title is not None,
            bool(c.metadata),
            bool(c.participants),
            c.customer_info is not None,
            bool(c.crm_references),
            c.user_id is not None,
            c.session_id is not None,
        )
    )


async def erase_subject(uow: UnitOfWork, subject: ErasureSubject) -> ErasureReceiptRecord:
    """Admin: erase everything stored about the subject (audited as `subject.erase`)."""
    subject = subject.validated()
    found = await uow.conversations.of_subject(
        subject.user_id, subject.customer_email, subject.conversation_ids
    )
    ids = [c.id for c in found]
    done = await tombstone_messages(uow, await uow.messages.live_ids_of(ids))
    state = await uow.state.delete_of(ids)
    await uow.crm_sync.delete_of(ids)
    await uow.ledger.forget_replies(ids)
    changed = {c.id for c in done.conversations} | {s.conversation_id for s in state}
    now = uow.now()
    for conv in found:
        if not _needs_scrub(conv):
            continue
        scrubbed = await uow.conversations.update(conv.id, SCRUBBED, None, now)
        if scrubbed is not None:
            uow.add_event(ConversationChanged(scrubbed))
            changed.add(conv.id)
    await _forget_customers(uow, found, subject.customer_email)
    if not changed:
        previous = await uow.erasures.latest_of_subject(subject.key())
        if previous is not None:
            uow.audit("subject.erase", previous.id)
            return previous
    receipt = ErasureReceiptRecord(
        tenant_id=uow.tenant_id,
        id=str(uuid.uuid4()),
        at=now,
        subject=subject.stored(),
        subject_key=subject.key(),
        actor=uow.actor,
        conversations=len(changed),
        messages=len(done.messages),
        state_entries=len(state),
        sources=done.sources,
    )
    await uow.erasures.insert_receipt(receipt)
    uow.audit("subject.erase", receipt.id)
    return receipt


async def _forget_customers(
    uow: UnitOfWork, found: list[ConversationRecord], email: str | None
) -> None:
    """Delete the cached CRM customers of the subject (by id and by e-mail). Before commit: a
    cache that cannot be reached fails the erasure, which the caller retries."""
    config = uow.crm.config_for(uow.tenant_id)
    if config is None:
        return
    links = {link for c in found if (link := customer_link(c)) is not None}
    for c in found:  # both links of a conversation that had an id and an e-mail
        mail = (c.customer_info or {}).get("email")
        if isinstance(mail, str) and "@" in mail:
            links.add(("email", mail.strip().lower()))
    if email is not None:
        links.add(("email", email))
    keys = [cache_key(uow.crm, config, uow.tenant_id, link) for link in sorted(links)]
    if keys:
        await uow.crm.cache.delete(keys)


async def get_erasure_receipt(uow: UnitOfWork, receipt_id: str) -> ErasureReceiptRecord | None:
    try:
        receipt_id = v.uuid_id(receipt_id, "id")
    except ValidationFailed:
        return None
    return await uow.erasures.receipt(receipt_id)
