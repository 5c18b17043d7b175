"""The `CrmClient` protocol every connector implements, and the data it exchanges."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from conversation_service.adapters.crm.breaker import CircuitBreaker

Customer = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CrmConversation:
    """What is pushed to a CRM: the conversation's summary and metrics at one seq."""

    conversation_id: str
    tenant_id: str
    customer_id: str | None
    customer_email: str | None
    status: str
    summary: str | None
    message_count: int
    total_tokens: int
    last_seq: int
    started_at: datetime
    last_message_at: datetime | None
    tags: list[str]
    metadata: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        return f"{self.conversation_id}:{self.last_seq}"

    def body(self) -> dict[str, Any]:
        """The generic connector's JSON body (contract field names, ISO-8601 times)."""
        d = asdict(self)
        d.pop("customer_email")
        d["started_at"] = self.started_at.isoformat()
        d["last_message_at"] = self.last_message_at.isoformat() if self.last_message_at else None
        if self.customer_email is not None:
            d["email"] = self.customer_email
        return d


class CrmClient(Protocol):
    """One tenant's (or the `"*"` entry's) CRM. Every call is bounded by a timeout and goes
    through `breaker`; failures raise `CrmError` subclasses whose text never holds the token."""

    breaker: CircuitBreaker

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        """The customer, or None when the CRM has no such customer."""
        ...

    async def get_customer_by_email(self, email: str) -> Customer | None: ...

    async def push_conversation(self, conversation: CrmConversation) -> str:
        """Record the conversation in the CRM; returns the CRM's id for the record.

        Sends `Idempotency-Key: {conversation_id}:{seq}` so a retried push is not doubled."""
        ...

    async def aclose(self) -> None: ...
