"""Engine construction, the unit of work and its factory: the only place that opens transactions.

`Database` opens units of work (`async with db(tenant) as uow: ...; await uow.commit()`, or
`await db.run(tenant, service, ...)`), each carrying the stores of one tenant (`adapters/store/`),
the clock, the settings, the CRM side and the events it publishes after commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from conversation_service.adapters.crm.service import CrmService
from conversation_service.adapters.store.conversations import SqlConversationStore
from conversation_service.adapters.store.crm_sync import SqlCrmSyncStore
from conversation_service.adapters.store.export import SqlExportStore
from conversation_service.adapters.store.ledger import SqlLedgerStore
from conversation_service.adapters.store.messages import SqlMessageStore
from conversation_service.adapters.store.search import SqlSearchStore
from conversation_service.adapters.store.sources import SqlSourceStore
from conversation_service.adapters.store.state import SqlStateStore
from conversation_service.adapters.store.usage import SqlUsageStore
from conversation_service.config import Settings
from conversation_service.domain.clock import utcnow
from conversation_service.domain.errors import WriteConflict
from conversation_service.domain.events import PUBLISHED, Event, EventPublisher
from conversation_service.domain.policies import ContextPolicy
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.reactions import Reactions

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
#: Attempts of a service whose write lost a race on a unique key (see WriteConflict).
ATTEMPTS = 3

#: Plan every statement of the current transaction for its own parameter values (PostgreSQL).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    """SQLite gives JSON columns NUMERIC affinity: a stored `1` comes back as the number 1."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        return orjson.loads(value)
    return value


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    kwargs: dict[str, Any] = {
        "echo": settings.db_echo,
        "json_serializer": _json_dumps,
        "json_deserializer": _json_loads,
    }
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = settings.db_max_overflow
        kwargs["pool_pre_ping"] = False
        # A down or frozen database must fail fast (UNAVAILABLE, see db_errors.py), not hang:
        # pool checkout, connecting and every command are bounded; the server also cancels a
        # statement running longer than DB_STATEMENT_TIMEOUT_MS (0: no timeouts, migrations).
        kwargs["pool_timeout"] = settings.db_pool_timeout_s
        timeout_ms = settings.db_statement_timeout_ms
        if timeout_ms > 0 and url.startswith("postgresql+asyncpg"):
            kwargs["connect_args"] = {
                "timeout": settings.db_pool_timeout_s,
                "command_timeout": timeout_ms / 1000,
                "server_settings": {"statement_timeout": str(timeout_ms)},
            }
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.driver == "asyncpg":
        _configure_asyncpg(engine)
    return engine


def _configure_asyncpg(engine: AsyncEngine) -> None:
    """Decode jsonb in C: text format straight into orjson, instead of SQLAlchemy's binary codec
    (a Python wrapper per value; a 20 x 20 nested read decodes ~1,700 values)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _entry: ConnectionPoolEntry) -> None:
        async def codecs(conn: Any) -> None:
            await conn.set_type_codec(
                "jsonb", encoder=str, decoder=orjson.loads, schema="pg_catalog", format="text"
            )

        dbapi_conn.run_async(codecs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _entry: ConnectionPoolEntry) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


class SqlUnitOfWork:
    """One transaction of one tenant. The connection (and SQLite's process write lock) is taken
    on first use, so a service can do slow preparation (token counting) before it holds
    anything. Events added here are published only after a successful commit; `commit()` first
    runs the in-transaction reactions, which write in this same transaction."""

    def __init__(
        self, db: Database, tenant_id: str, actor: str | None, *, readonly: bool = False
    ) -> None:
        self._db = db
        self.tenant_id = tenant_id
        #: who acts (for audit); the tenant and the actor are set once per transaction in _begin
        self.actor = actor
        self.settings = db.settings
        self.crm = db.crm
        self.context_policy = db.context_policy
        self.dialect = db.dialect
        self._readonly = readonly
        self._conn: AsyncConnection | None = None
        self._locked = False
        self._committed = False
        self._custom_plans = False
        self._events: list[object] = []
        #: (action, target id) recorded by services; written to `audit_log` at commit
        self.audit_entries: list[tuple[str, str | None]] = []
        self.conversations = SqlConversationStore(self)
        self.messages = SqlMessageStore(self)
        self.sources = SqlSourceStore(self)
        self.state = SqlStateStore(self)
        self.crm_sync = SqlCrmSyncStore(self)
        self.search = SqlSearchStore(
            self, db.settings.search_language, db.settings.search_max_candidates
        )
        self.usage = SqlUsageStore(self)
        self.ledger = SqlLedgerStore(self)
        self.exports = SqlExportStore(self)

    def now(self) -> datetime:
        return utcnow()

    def add_event(self, event: object) -> None:
        self._events.append(event)

    def audit(self, action: str, target_id: str | None = None) -> None:
        self.audit_entries.append((action, target_id))

    @property
    def events(self) -> list[object]:
        return self._events

    async def connection(self) -> AsyncConnection:
        conn = self._conn
        if conn is None:
            conn = await self._begin()
        return conn

    async def _begin(self) -> AsyncConnection:
        """Open the transaction: the one place for per-transaction session settings (a later
        `SET LOCAL app.tenant_id` for row-level security, the actor for audit)."""
        lock = None if self._readonly else self._db.write_lock
        if lock is not None:
            await lock.acquire()
            self._locked = True
        try:
            conn = await self._db.engine.connect()
            if not self._readonly:
                await conn.begin()
        except BaseException:
            self._release()
            raise
        self._conn = conn
        return conn

    async def plan_for_values(self) -> None:
        """Plan the rest of this transaction's statements for their own parameter values
        (PostgreSQL; once per transaction). For statements whose best plan depends on the
        values (a word in most of a tenant's messages or in a handful): prepared statements are
        cached per connection and PostgreSQL switches to a generic plan from the sixth
        execution; for full-text search that generic plan read every match of the word (171 ms
        instead of 5 ms for a word in 68,000 of 100,000 messages). A `SET LOCAL`, undone with
        the transaction when the connection returns to the pool."""
        if self.dialect != "postgresql" or self._custom_plans:
            return
        conn = await self.connection()
        await conn.exec_driver_sql(CUSTOM_PLANS)
        self._custom_plans = True

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            lock = self._db.write_lock
            assert lock is not None
            lock.release()

    async def commit(self) -> None:
        reactions = self._db.reactions.in_transaction
        if reactions:
            handled = 0
            while handled < len(self._events):  # reactions may add events of their own
                happened = self._events[handled]
                handled += 1
                for handler in reactions.get(type(happened), ()):
                    await handler(self, happened)
        if self._conn is not None and not self._readonly:
            await self._conn.commit()
        self._committed = True

    async def __aenter__(self) -> SqlUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None:
                if not self._committed and not self._readonly:
                    await self._conn.rollback()
                await self._conn.close()
        finally:
            self._conn = None
            self._release()
        if self._committed and self._events:
            events, self._events = self._events, []
            self._after_commit(events)
            published: list[Event] = [e for e in events if isinstance(e, PUBLISHED)]  # type: ignore[misc]
            if published:
                try:
                    await self._db.publisher.publish(published)
                except Exception:  # the commit stands; subscribers fill gaps from the database
                    log.exception("publishing %d committed event(s) failed", len(published))

    def _after_commit(self, events: list[object]) -> None:
        reactions = self._db.reactions.after_commit
        if not reactions:
            return
        for happened in events:
            for handler in reactions.get(type(happened), ()):
                try:
                    handler(happened)
                except Exception:
                    log.exception("after-commit reaction to %s failed", type(happened).__name__)


class Database:
    """The engine and everything a unit of work carries; opens units of work of a tenant.

    `db(tenant)` is a unit of work the caller commits; `db.reading(tenant)` a read-only one;
    `db.run(tenant, service, *args)` runs one service in its own unit of work, commits it, and
    runs it again when it lost a race on a unique key; `db.query(...)` is its read-only twin.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher,
        *,
        settings: Settings | None = None,
        crm: CrmService | None = None,
        reactions: Reactions | None = None,
        context_policy: ContextPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.settings = settings or Settings()
        self.crm = crm or CrmService()
        self.reactions = reactions or Reactions()
        self.context_policy = context_policy or ContextPolicy.from_settings(self.settings)
        self.dialect = engine.dialect.name
        # SQLite allows one writer: serialise this process's writers instead of spinning on BUSY.
        self.write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    def with_publisher(self, publisher: EventPublisher) -> Database:
        """The same database and wiring, publishing elsewhere (tools, tests of lost publishes)."""
        return Database(
            self.engine,
            publisher,
            settings=self.settings,
            crm=self.crm,
            reactions=self.reactions,
            context_policy=self.context_policy,
        )

    def __call__(self, tenant_id: str, *, actor: str | None = None) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, tenant_id, actor)

    def reading(self, tenant_id: str) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, tenant_id, None, readonly=True)

    async def run(
        self,
        tenant_id: str,
        service: Callable[Concatenate[UnitOfWork, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self(tenant_id) as uow:
                    result = await service(uow, *args, **kwargs)
                    await uow.commit()
                return result
            except WriteConflict as exc:
                # A concurrent writer of the same key won; the rollback undid ours.
                if not exc.retryable:
                    raise
                if attempt == ATTEMPTS:
                    if exc.final is not None:
                        raise exc.final from exc
                    raise
        raise AssertionError("unreachable")

    async def query(
        self,
        tenant_id: str,
        service: Callable[Concatenate[UnitOfWork, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        async with self.reading(tenant_id) as uow:
            return await service(uow, *args, **kwargs)

    @asynccontextmanager
    async def read(self, *, custom_plans: bool = False) -> AsyncIterator[AsyncConnection]:
        """A raw pooled connection (tools, tests); services read through `reading()`.
        `custom_plans`: see `SqlUnitOfWork.plan_for_values`."""
        async with self.engine.connect() as conn:
            if custom_plans and conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(CUSTOM_PLANS)
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
