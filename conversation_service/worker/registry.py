"""The handler shape, the registry that maps action types to handlers, and the ordering key of an
action. It imports no handler: the service's own table is built in `worker/actions.py`, so that
handlers (which take a `Call`) and the table that names them import in one direction only."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from conversation_service.adapters.database import Database, UnitOfWork
from conversation_service.worker.envelope import DomainAction


@dataclass(slots=True)
class Call:
    """What a handler gets: the action, the database and, for writes, the open unit of work that
    the worker commits together with the idempotency record."""

    db: Database
    action: DomainAction
    uow: UnitOfWork | None

    @property
    def tenant_id(self) -> str:
        return self.action.tenant_id

    @property
    def data(self) -> dict[str, Any]:
        return self.action.payload


Handler = Callable[[Call], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    handler: Handler
    writes: bool = True  # writes run in a transaction with the ledger; reads run without


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec] = {}

    def register(self, action_type: str, handler: Handler, *, writes: bool = True) -> None:
        self._specs[action_type] = ActionSpec(handler, writes)

    def get(self, action_type: str) -> ActionSpec | None:
        return self._specs.get(action_type)

    def types(self) -> list[str]:
        return sorted(self._specs)

    def copy(self) -> Registry:
        other = Registry()
        other._specs = dict(self._specs)
        return other


def ordering_key(action: DomainAction) -> str:
    """Actions with the same key apply in stream order: the conversation when the action names
    one, else the session (the platform's session-shaped actions), else the action alone."""
    data = action.payload
    cid = data.get("conversation_id")
    if isinstance(cid, str) and cid:
        with contextlib.suppress(ValueError):
            cid = str(uuid.UUID(cid))  # the domain's canonical form: one key per conversation
        return f"{action.tenant_id}:c:{cid.lower()}"
    session = data.get("session_id") or action.session_id
    if isinstance(session, str) and session:
        return f"{action.tenant_id}:s:{session}"
    return f"{action.tenant_id}:a:{action.action_id}"
