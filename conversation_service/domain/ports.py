"""What the domain needs from the outside world, as small typed interfaces.

The stores (`adapters/store/`) hold all SQL; the unit of work (`adapters/database.py`) opens the
transaction, carries the stores of one tenant, the clock, the settings and the events it will
publish after commit. Domain services have one shape, `async def service(uow, ...) -> Result`,
and import nothing but this module to reach a database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from conversation_service.config import Settings
from conversation_service.domain.analysis import AnalysisFilter
from conversation_service.domain.commands import (
    AuditQuery,
    ConversationQuery,
    Kind,
    NewConversation,
    NewMessage,
    SearchQuery,
    Selection,
)
from conversation_service.domain.enums import ConversationStatus
from conversation_service.domain.policies import ContextPolicy
from conversation_service.domain.records import (
    AgentUsageRecord,
    AuditRecord,
    Claim,
    ConversationRecord,
    CrmSyncRecord,
    ErasureReceiptRecord,
    MessageRecord,
    Recorded,
    RetentionPolicyRecord,
    StateRecord,
)
from conversation_service.domain.shapes import ConversationShape, MessagesShape

if TYPE_CHECKING:  # types only: the CRM connectors' own modules (no driver at import)
    from conversation_service.adapters.crm.base import CrmClient
    from conversation_service.adapters.crm.cache import CustomerCache
    from conversation_service.adapters.crm.config import CrmConfig
    from conversation_service.domain.api_keys import ApiKeyRecord

P = ParamSpec("P")
R = TypeVar("R")


class ConversationStore(Protocol):
    async def get(self, conversation_id: str) -> ConversationRecord | None: ...
    async def get_many(self, ids: list[str]) -> dict[str, ConversationRecord]: ...
    async def exists(self, conversation_id: str) -> bool: ...
    async def last_seq(self, conversation_id: str) -> int | None: ...
    async def sync_facts(self, conversation_id: str) -> tuple[int, dict[str, Any]] | None:
        """(last_seq, crm_references) of a conversation, None when unknown."""
        ...

    async def page_json(
        self,
        q: ConversationQuery,
        *,
        descending: bool,
        offset: int,
        limit: int,
        after: tuple[datetime, str] | None,
        shape: ConversationShape,
    ) -> str | None:
        """`page(...)`'s items as one JSON array shaped by `shape`; None: cannot shape."""
        ...

    async def messages_json(self, conversation_id: str, shape: MessagesShape) -> str | None:
        """One conversation's message connection as JSON; None: unknown, or cannot shape."""
        ...

    async def insert(
        self, new: NewConversation, conversation_id: str, now: datetime
    ) -> ConversationRecord:
        """Raises WriteConflict when the id is taken."""
        ...

    async def update(
        self,
        conversation_id: str,
        values: dict[str, Any],
        expected_version: int | None,
        now: datetime,
    ) -> ConversationRecord | None:
        """Set `values` and bump the version; None when absent or at another version."""
        ...

    async def version_of(self, conversation_id: str) -> int | None: ...
    async def replace_tags(self, conversation_id: str, tags: list[str]) -> None: ...
    async def page(
        self,
        q: ConversationQuery,
        *,
        descending: bool,
        offset: int,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[ConversationRecord]: ...
    async def count(self, q: ConversationQuery) -> int: ...
    async def updated_since(
        self, since: datetime, ids: list[str] | None, limit: int
    ) -> list[ConversationRecord]: ...
    async def newest_of_session(
        self, session_id: str, agent_id: str | None
    ) -> ConversationRecord | None: ...
    async def active_of_session(
        self, session_id: str, agent_id: str | None
    ) -> list[ConversationRecord]:
        """Oldest first, locked for the rest of the transaction where the backend can."""
        ...

    async def subtract_tokens(
        self, deltas: dict[str, int], now: datetime
    ) -> list[ConversationRecord]: ...
    async def not_archived_created_before(
        self,
        status: ConversationStatus,
        cutoff: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ConversationRecord]: ...
    async def count_idle(self, cutoff: datetime) -> int: ...
    async def of_subject(
        self, user_id: str | None, customer_email: str | None, ids: list[str]
    ) -> list[ConversationRecord]: ...


class MessageStore(Protocol):
    async def find(
        self, conversation_id: str, client_message_id: str | None, message_id: str | None
    ) -> MessageRecord | None: ...
    async def append(
        self, conversation_id: str, m: NewMessage, token_count: int, used: int, now: datetime
    ) -> tuple[MessageRecord, ConversationRecord] | None:
        """Bump the conversation (next seq, counters) and insert; None when the conversation
        does not exist. Raises WriteConflict when a unique key is taken."""
        ...

    async def add(
        self, conversation_id: str, m: NewMessage, token_count: int, used: int, now: datetime
    ) -> tuple[MessageRecord, ConversationRecord | None] | None:
        """`find` by the message's keys, else `append`: (the earlier message, None) or (the new
        message, the bumped conversation); None when the conversation does not exist."""
        ...

    async def first_seqs_since(self, ids: list[str], since: datetime) -> dict[str, int]: ...
    async def ranges(self, wanted: list[tuple[str, int, int]]) -> dict[str, list[MessageRecord]]:
        """Messages with lo <= seq <= hi per (conversation, lo, hi), in seq order."""
        ...

    async def between(
        self,
        conversation_id: str,
        after_seq: int,
        before_seq: int | None,
        since: datetime | None,
        limit: int,
    ) -> list[MessageRecord]: ...
    async def recent(
        self, since: datetime, agent_id: str | None, user_id: str | None, limit: int
    ) -> list[tuple[MessageRecord, str | None, str | None]]: ...
    async def system(self, conversation_id: str) -> list[MessageRecord]: ...
    async def range_newest_first(
        self, conversation_id: str, lo: int, hi: int
    ) -> list[MessageRecord]: ...
    async def live_ids_older_than(self, cutoff: datetime, limit: int) -> list[str]: ...
    async def count_live_older_than(self, cutoff: datetime) -> int: ...
    async def live_ids_of(self, conversation_ids: list[str]) -> list[str]: ...
    async def lock_live(self, ids: list[str]) -> list[MessageRecord]:
        """The messages among `ids` not yet erased, locked until the transaction ends."""
        ...

    async def tombstone(self, ids: list[str]) -> list[MessageRecord]: ...
    async def annotate(
        self, message_id: str, values: dict[str, Any]
    ) -> tuple[MessageRecord, str | None, str | None] | None:
        """Set a message's analysis columns; (message, conversation agent, user) or None."""
        ...

    async def analysed(
        self,
        conversation_id: str,
        f: AnalysisFilter,
        *,
        after_seq: int,
        before_seq: int | None,
        since: datetime | None,
        limit: int,
        backward: bool,
    ) -> list[MessageRecord]: ...
    async def count_analysed(
        self, conversation_id: str, f: AnalysisFilter, since: datetime | None
    ) -> int: ...
    async def annotated_since(
        self, since: datetime, conversation_id: str | None, limit: int
    ) -> list[tuple[MessageRecord, str | None, str | None]]: ...


class ExportStore(Protocol):
    def stream_rows(
        self, kind: Kind, sel: Selection, batch: int
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Every row of one kind (conversation, message, state) of the selection, read from a
        server-side cursor `batch` rows at a time."""
        ...

    async def insert_absent(self, kind: Kind, rows: list[dict[str, Any]]) -> list[str]:
        """Insert the rows not stored yet; the ids of those inserted (conversation ids for
        state entries)."""
        ...


class SourceStore(Protocol):
    async def write(self, message: MessageRecord) -> None: ...
    async def by_document(
        self, document_id: str, size: int, after: tuple[datetime, str] | None
    ) -> tuple[list[MessageRecord], int]:
        """Up to `size` + 1 messages citing the document (keyset order) and their total."""
        ...

    async def delete_for(self, message_ids: list[str]) -> int: ...


class StateStore(Protocol):
    async def entry_for_update(self, conversation_id: str, key: str) -> StateRecord | None: ...
    async def insert(
        self, conversation_id: str, key: str, values: dict[str, Any], now: datetime
    ) -> StateRecord:
        """Raises WriteConflict when a concurrent first write of the key won."""
        ...

    async def update(
        self, conversation_id: str, key: str, values: dict[str, Any]
    ) -> StateRecord: ...
    async def live_entry(
        self, conversation_id: str, key: str, now: datetime
    ) -> tuple[bool, StateRecord | None]:
        """(conversation exists, its live entry for the key) in one round trip."""
        ...

    async def live_for(
        self, conversation_ids: list[str], now: datetime
    ) -> dict[str, list[StateRecord]]: ...
    async def entries(self, conversation_id: str, key: str | None) -> list[StateRecord]: ...
    async def delete_older_than(self, cutoff: datetime, limit: int) -> list[StateRecord]: ...
    async def count_older_than(self, cutoff: datetime) -> int: ...
    async def delete_of(self, conversation_ids: list[str]) -> list[StateRecord]: ...


class CrmSyncStore(Protocol):
    async def insert_pending(
        self, conversation_id: str, seq: int, now: datetime
    ) -> CrmSyncRecord | None:
        """A new PENDING row, or None when the conversation already has one."""
        ...

    async def lock(self, conversation_id: str) -> tuple[CrmSyncRecord, bool]:
        """The row, locked; and whether a runner holds it (claimed)."""
        ...

    async def lock_claim(self, claim: Claim) -> CrmSyncRecord | None: ...
    async def update(self, conversation_id: str, values: dict[str, Any]) -> CrmSyncRecord: ...
    async def states(self, conversation_ids: list[str]) -> dict[str, CrmSyncRecord]: ...
    async def claim_due(
        self, limit: int, lease_until: datetime, now: datetime, token: str
    ) -> list[Claim]:
        """Across tenants (the runner's pass): due PENDING rows taken under a lease."""
        ...

    async def delete_of(self, conversation_ids: list[str]) -> int: ...


class SearchStore(Protocol):
    async def search(
        self, q: SearchQuery, size: int, after: tuple[float, str] | None
    ) -> list[tuple[MessageRecord, float, str]]: ...
    async def count(self, q: SearchQuery) -> int: ...


class UsageStore(Protocol):
    async def agent_usage(
        self, agent_id: str, from_date: datetime | None, to_date: datetime | None
    ) -> AgentUsageRecord: ...


class LedgerStore(Protocol):
    """The worker's idempotency ledger (tenant, action_id) -> answer."""

    async def record(
        self,
        action_id: str,
        action_type: str,
        entry_id: str | None,
        conversation_id: str | None,
        result: Recorded,
        now: datetime,
    ) -> bool:
        """False when the action is already recorded."""
        ...

    async def lookup(self, action_id: str) -> Recorded | None: ...
    async def forget_replies(self, conversation_ids: list[str]) -> int: ...


class RetentionStore(Protocol):
    async def policy(self) -> RetentionPolicyRecord | None: ...
    async def save_policy(
        self, values: dict[str, int | None], now: datetime
    ) -> RetentionPolicyRecord: ...
    async def tenants(self) -> list[str]: ...
    async def audit_table_exists(self) -> bool: ...
    async def purge_audit(self, cutoff: datetime, limit: int) -> int: ...
    async def count_audit(self, cutoff: datetime) -> int: ...


class ErasureStore(Protocol):
    async def insert_receipt(self, r: ErasureReceiptRecord) -> None: ...
    async def receipt(self, receipt_id: str) -> ErasureReceiptRecord | None: ...
    async def latest_of_subject(self, subject_key: str) -> ErasureReceiptRecord | None: ...


class LeaseStore(Protocol):
    async def acquire(
        self, name: str, owner: str, until: datetime, now: datetime, ran_before: datetime | None
    ) -> bool: ...
    async def renew(self, name: str, owner: str, until: datetime) -> bool: ...
    async def release(self, name: str, owner: str, finished_at: datetime | None) -> None: ...
    async def holder(self, name: str, now: datetime) -> str | None: ...


class ApiKeyStore(Protocol):
    """API keys. Not scoped to the unit of work's tenant: a key names its own tenant and is
    looked up by id before any tenant is known."""

    async def insert(self, record: ApiKeyRecord) -> None: ...
    async def get(self, key_id: str) -> ApiKeyRecord | None: ...
    async def of_tenant(self, tenant_id: str) -> list[ApiKeyRecord]: ...
    async def revoke(self, key_id: str, now: datetime) -> ApiKeyRecord: ...
    async def touch(self, used: dict[str, datetime]) -> None:
        """Record last-used times (one statement per batch, never moving a time back)."""
        ...


class AuditStore(Protocol):
    """The tenant's audit trail (written by the unit of work at commit)."""

    async def page(
        self, q: AuditQuery, size: int, after: tuple[datetime, str] | None
    ) -> list[AuditRecord]:
        """Up to `size` entries newest first (keyset on (at, id)), after the cursor."""
        ...


class Crm(Protocol):
    """The process's CRM side, as the domain uses it (`adapters.crm.CrmService`)."""

    cache: CustomerCache
    cache_prefix: str
    stats: dict[str, int]

    def config_for(self, tenant_id: str) -> CrmConfig | None: ...
    def client_for(self, tenant_id: str) -> tuple[CrmConfig, CrmClient] | None: ...
    def notify(self) -> None: ...


class UnitOfWork(Protocol):
    """One transaction of one tenant: its stores, the clock, the settings, and the events
    collected for publication after commit. `commit()` runs the in-transaction reactions
    first; nothing is published after a rollback."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def crm(self) -> Crm: ...
    @property
    def context_policy(self) -> ContextPolicy: ...
    @property
    def conversations(self) -> ConversationStore: ...
    @property
    def messages(self) -> MessageStore: ...
    @property
    def sources(self) -> SourceStore: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def crm_sync(self) -> CrmSyncStore: ...
    @property
    def search(self) -> SearchStore: ...
    @property
    def usage(self) -> UsageStore: ...
    @property
    def ledger(self) -> LedgerStore: ...
    @property
    def retention(self) -> RetentionStore: ...
    @property
    def erasures(self) -> ErasureStore: ...
    @property
    def leases(self) -> LeaseStore: ...
    @property
    def api_keys(self) -> ApiKeyStore: ...
    @property
    def exports(self) -> ExportStore: ...
    @property
    def audit_log(self) -> AuditStore: ...

    def now(self) -> datetime: ...
    def add_event(self, event: object) -> None: ...
    def audit(self, action: str, target_id: str | None = None) -> None:
        """Record one audit entry (`message.add`, `subject.erase`, ...; names in
        `domain/audit.py`), written in this transaction at commit with the actor and the
        request id; a read-only unit of work refuses it (it never commits)."""
        ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens units of work: `async with factory(tenant) as uow: ...; await uow.commit()`."""

    def __call__(
        self, tenant_id: str, *, actor: str | None = None
    ) -> AbstractAsyncContextManager[UnitOfWork]: ...
    def reading(self, tenant_id: str) -> AbstractAsyncContextManager[UnitOfWork]: ...
    async def run(
        self,
        tenant_id: str,
        service: Callable[Concatenate[UnitOfWork, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...
    async def query(
        self,
        tenant_id: str,
        service: Callable[Concatenate[UnitOfWork, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...
