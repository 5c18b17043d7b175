"""Reactions across aggregates, as event handlers: which handler runs for which event, and when.

`bootstrap.py` registers them; the unit of work runs the in-transaction ones when it commits
(before COMMIT, so their writes commit or roll back with the change that caused them) and the
after-commit ones once the commit stands. Domain modules therefore never call each other in a
circle: a status change does not call the CRM sync, it announces `ConversationCompleted`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from conversation_service.domain.ports import UnitOfWork

#: Runs inside the transaction, before commit; may write and add further events.
InTransaction = Callable[[UnitOfWork, Any], Awaitable[None]]
#: Runs after a successful commit, for effects outside the database (never after a rollback).
AfterCommit = Callable[[Any], None]


class Reactions:
    def __init__(self) -> None:
        self.in_transaction: dict[type, list[InTransaction]] = {}
        self.after_commit: dict[type, list[AfterCommit]] = {}

    def on(self, event_type: type, handler: InTransaction) -> None:
        self.in_transaction.setdefault(event_type, []).append(handler)

    def after(self, event_type: type, handler: AfterCommit) -> None:
        self.after_commit.setdefault(event_type, []).append(handler)
