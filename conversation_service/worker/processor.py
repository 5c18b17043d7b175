"""Applies one action: the handler's effect and the idempotency record in one transaction.

Returns an Outcome for every answer (success or a typed rejection); raises for transient
failures (database or network trouble, bugs) so that the consumer retries with backoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import structlog

from conversation_service.adapters.database import Database
from conversation_service.domain import validation as v
from conversation_service.domain.errors import DomainError
from conversation_service.worker import ledger
from conversation_service.worker.envelope import ActionError, DomainAction
from conversation_service.worker.registry import Call, Registry
from conversation_service.worker.replies import domain_error, unknown_action

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    data: dict[str, Any] | None
    error: ActionError | None
    duplicate: bool = False
    known_type: bool = True

    @classmethod
    def from_recorded(cls, found: ledger.Recorded, *, duplicate: bool) -> Outcome:
        if found.success:
            return cls(found.reply, None, duplicate)
        return cls(None, ActionError.model_validate(found.reply), duplicate)


class Processor:
    def __init__(self, db: Database, registry: Registry) -> None:
        self.db = db
        self.registry = registry

    async def apply(self, action: DomainAction, entry_id: str | None) -> Outcome:
        # The action is the worker's request: its id joins log lines and audit entries.
        with structlog.contextvars.bound_contextvars(request_id=action.action_id):
            return await self._apply(action, entry_id)

    async def _apply(self, action: DomainAction, entry_id: str | None) -> Outcome:
        try:
            v.tenant_id(action.tenant_id)
        except DomainError as exc:
            return Outcome(None, domain_error(exc))
        spec = self.registry.get(action.action_type)
        if spec is None:
            return Outcome(None, unknown_action(action.action_type), known_type=False)
        tenant = action.tenant_id
        if not spec.writes:
            try:
                async with self.db.reading(tenant) as reading:
                    return Outcome(await spec.handler(Call(self.db, action, reading)), None)
            except DomainError as exc:
                return Outcome(None, domain_error(exc))
        cid = action.payload.get("conversation_id")
        try:
            async with self.db(tenant) as uow:
                data = await spec.handler(Call(self.db, action, uow))
                if data is not None and isinstance(data.get("conversation_id"), str):
                    cid = data["conversation_id"]
                # Fire-and-forget: nobody reads the answer, so none is stored (less JSON).
                answer = data if action.callback_queue_name else None
                first = await uow.ledger.record(
                    action.action_id,
                    action.action_type,
                    entry_id,
                    cid if isinstance(cid, str) else None,
                    ledger.Recorded(True, answer),
                    uow.now(),
                )
                if first:
                    await uow.commit()
            if first:
                return Outcome(data, None)
            async with self.db.reading(tenant) as reading:  # a duplicate: its re-run rolled back
                found = await reading.ledger.lookup(action.action_id)
            assert found is not None
            return Outcome.from_recorded(found, duplicate=True)
        except DomainError as exc:
            rejected = ledger.Recorded(False, domain_error(exc).model_dump(mode="json"))
            stored = await ledger.record_failure(
                self.db, tenant, action.action_id, action.action_type, entry_id, rejected
            )
            return Outcome.from_recorded(stored, duplicate=stored is not rejected)
