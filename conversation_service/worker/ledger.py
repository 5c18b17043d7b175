"""The idempotency ledger: has this action (tenant, action_id) been applied, and what did it answer?

The record is written inside the action's own transaction (`uow.ledger.record`), so "applied"
and "recorded" commit together or not at all; a redelivery finds the record and re-sends the
stored answer. The SQL is `adapters/store/ledger.py`.
"""

from __future__ import annotations

from conversation_service.domain.ports import UnitOfWorkFactory
from conversation_service.domain.records import Recorded

__all__ = ["Recorded", "record_failure"]


async def record_failure(
    db: UnitOfWorkFactory,
    tenant_id: str,
    action_id: str,
    action_type: str,
    entry_id: str | None,
    result: Recorded,
) -> Recorded:
    """A rejected action (validation, not found...) is recorded on its own: it changed nothing,
    but a retry must get the same answer. Returns what is recorded (the first answer wins)."""
    async with db(tenant_id) as uow:
        if await uow.ledger.record(action_id, action_type, entry_id, None, result, uow.now()):
            await uow.commit()
            return result
    async with db.reading(tenant_id) as uow:
        found = await uow.ledger.lookup(action_id)
    return found or result
