"""Seeding a subject's data, and reading every row a tenant has (to prove nothing is left)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from conversation_service.adapters.database import Database
from conversation_service.domain import conversations as conv_domain
from conversation_service.domain import messages as msg_domain
from conversation_service.domain import state as state_domain
from conversation_service.domain.commands import NewConversation, NewMessage, StateWrite
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.execution import usage_tokens
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import ConversationRecord, MessageRecord, Recorded
from conversation_service.models import metadata

#: Tables that keep the proof of an erasure (and the audit trail) on purpose.
PROOF_TABLES = {"erasure_receipts", "audit_log"}


@dataclass
class Seeded:
    conversation_id: str
    marker: str
    document_id: str
    messages: list[MessageRecord] = field(default_factory=list)


def rich_message(marker: str, document_id: str, i: int, role: MessageRole) -> NewMessage:
    """A message carrying the marker in every place a message can hold data."""
    return NewMessage(
        role=role,
        content=f"{marker} says hello {i}",
        sender_id=f"sender-{marker}",
        metadata={"note": marker},
        sources=[{"document_id": document_id, "title": marker, "snippet": marker}],
        execution={"execution_id": f"x-{marker}-{i}", "total_tokens": 7, "detail": {"m": marker}}
        if role is MessageRole.ASSISTANT
        else None,
        tool_calls=[{"id": f"call-{i}", "name": "f", "arguments": marker}]
        if role is MessageRole.ASSISTANT
        else None,
        client_message_id=f"c-{uuid.uuid4().hex[:8]}",
    )


async def _ledger(uow: UnitOfWork, cid: str, marker: str) -> None:
    await uow.ledger.record(
        f"a-{uuid.uuid4().hex[:12]}",
        "conversation.message_add",
        None,
        cid,
        Recorded(True, {"content": marker}),
        uow.now(),
    )


async def seed(
    db: Database,
    tenant: str,
    *,
    user_id: str | None = None,
    email: str | None = None,
    messages: int = 4,
) -> Seeded:
    marker = f"mk{uuid.uuid4().hex[:10]}"
    document_id = f"doc-{marker}"
    conv, _ = await db.run(
        tenant,
        conv_domain.create_conversation,
        NewConversation(
            user_id=user_id,
            agent_id="agent-1",
            session_id=f"s-{marker}",
            title=f"title {marker}",
            tags=["support"],
            metadata={"who": marker},
            participants=[{"id": f"p-{marker}", "kind": "user", "display_name": marker}],
            customer_info={"email": email, "name": marker} if email else {"name": marker},
            crm_references={"customer_id": f"cust-{marker}"},
        ),
    )
    out = Seeded(conv.id, marker, document_id)
    for i in range(messages):
        role = MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT
        added = await db.run(
            tenant, msg_domain.add_message, conv.id, rich_message(marker, document_id, i, role)
        )
        out.messages.append(added.message)
    await db.run(
        tenant, state_domain.write_state, conv.id, StateWrite(key="profile", value={"m": marker})
    )
    await db.run(tenant, _ledger, conv.id, marker)
    return out


async def tenant_rows(db: Database, tenant: str) -> str:
    """Every stored row of the tenant, as text: each table of the models (raw SELECT *, so
    PostgreSQL's search vector is included) and SQLite's full-text index."""
    parts: list[str] = []
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in PROOF_TABLES or "tenant_id" not in table.c:
                continue
            rows = await conn.execute(
                text(f"SELECT * FROM {table.name} WHERE tenant_id = :t"), {"t": tenant}
            )
            parts.extend(f"{table.name}: {tuple(r)!r}" for r in rows)
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(
                text("SELECT content FROM messages_fts WHERE tenant_id = :t"), {"t": tenant}
            )
            parts.extend(f"messages_fts: {r[0]!r}" for r in rows)
    return "\n".join(parts)


async def stored_messages(db: Database, tenant: str, cid: str) -> list[MessageRecord]:
    page = await db.query(tenant, msg_domain.messages_between, cid, after_seq=0, limit=100_000)
    return page


def stored_usage(messages: list[MessageRecord]) -> int:
    return sum(usage_tokens(m.token_count or 0, m.execution) for m in messages)


async def conversation(db: Database, tenant: str, cid: str) -> ConversationRecord:
    return await db.query(tenant, conv_domain.get_conversation, cid)


def as_dicts(records: list[Any]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]
