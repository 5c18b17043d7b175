"""Engine construction, the unit of work and its factory: the only place that opens transactions.

`Database` opens units of work (`async with db(tenant) as uow: ...; await uow.commit()`, or
`await db.run(tenant, service, ...)`), each carrying the stores of one tenant (`adapters/store/`),
the clock, the settings, the CRM side and the events it publishes after commit.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
import structlog
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from conversation_service.adapters.crm.service import CrmService
from conversation_service.adapters.pg_framing import FramedConnection, literal_quoter
from conversation_service.adapters.store.api_keys import SqlApiKeyStore
from conversation_service.adapters.store.audit import SqlAuditStore, literal_insert
from conversation_service.adapters.store.conversations import SqlConversationStore
from conversation_service.adapters.store.crm_sync import SqlCrmSyncStore
from conversation_service.adapters.store.export import SqlExportStore
from conversation_service.adapters.store.ledger import SqlLedgerStore
from conversation_service.adapters.store.lifecycle import (
    SqlErasureStore,
    SqlLeaseStore,
    SqlRetentionStore,
)
from conversation_service.adapters.store.messages import SqlMessageStore
from conversation_service.adapters.store.search import SqlSearchStore
from conversation_service.adapters.store.sources import SqlSourceStore
from conversation_service.adapters.store.state import SqlStateStore
from conversation_service.adapters.store.usage import SqlUsageStore
from conversation_service.config import Settings
from conversation_service.domain.audit import ANONYMOUS
from conversation_service.domain.clock import utcnow
from conversation_service.domain.errors import WriteConflict
from conversation_service.domain.events import PUBLISHED, Event, EventPublisher
from conversation_service.domain.policies import ContextPolicy
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.reactions import Reactions
from conversation_service.domain.records import AuditRecord

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
        connect_args: dict[str, Any] = {}
        if url.startswith("postgresql+asyncpg"):
            # BEGIN and COMMIT carry the per-transaction statements (see pg_framing.py)
            connect_args["connection_class"] = FramedConnection
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = settings.db_max_overflow
        kwargs["pool_pre_ping"] = False
        # A down or frozen database must fail fast (UNAVAILABLE, see db_errors.py), not hang:
        # pool checkout, connecting and every command are bounded; the server also cancels a
        # statement running longer than DB_STATEMENT_TIMEOUT_MS (0: no timeouts, migrations).
        kwargs["pool_timeout"] = settings.db_pool_timeout_s
        timeout_ms = settings.db_statement_timeout_ms
        if timeout_ms > 0 and url.startswith("postgresql+asyncpg"):
            connect_args.update(
                timeout=settings.db_pool_timeout_s,
                command_timeout=timeout_ms / 1000,
                server_settings={"statement_timeout": str(timeout_ms)},
            )
        kwargs["connect_args"] = connect_args
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.driver == "asyncpg":
        _configure_asyncpg(engine)
    return engine


def _configure_asyncpg(engine: AsyncEngine) -> None:
    """Decode jsonb in C: text format straight into orjson, instead of SQLAlchemy's binary codec
    (a Python wrapper per value; a 20 x 20 nested read decodes ~1,700 values)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, entry: ConnectionPoolEntry) -> None:
        # A unit of work that never ran a statement leaves its framing unused: never hand a
        # tenant's settings to the connection's next user.
        driver = entry.driver_connection
        if isinstance(driver, FramedConnection):
            driver.clear_framing()

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
        #: the asyncpg connection whose BEGIN / COMMIT carry this transaction's settings
        self._framed: FramedConnection | None = None
        #: (action, target id) recorded by services; written to `audit_log` at commit
        self.audit_entries: list[tuple[str, str | None]] = []
        self._audit_times: list[datetime] = []
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
        self.retention = SqlRetentionStore(self)
        self.erasures = SqlErasureStore(self)
        self.leases = SqlLeaseStore(self)
        self.api_keys = SqlApiKeyStore(self)
        self.exports = SqlExportStore(self)
        self.audit_log = SqlAuditStore(self)

    def now(self) -> datetime:
        return utcnow()

    def add_event(self, event: object) -> None:
        self._events.append(event)

    def audit(self, action: str, target_id: str | None = None) -> None:
        if self._readonly:
            raise RuntimeError(f"audit {action!r} needs a unit of work that commits")
        self.audit_entries.append((action, target_id))
        self._audit_times.append(self.now())

    @property
    def events(self) -> list[object]:
        return self._events

    async def connection(self) -> AsyncConnection:
        conn = self._conn
        if conn is None:
            conn = await self._begin()
        return conn

    async def _begin(self) -> AsyncConnection:
        """Open the transaction: the one place for per-transaction session settings. On
        PostgreSQL the tenant (`app.tenant_id`, what the row-level security policies compare
        `tenant_id` with) and the service's role (`DATABASE_APP_ROLE`) are set for this
        transaction only, by statements that ride on its BEGIN (no round trip of their own;
        `pg_framing.py`). A read-only unit of work runs in a transaction too: the driver opens
        one at its first statement and the pool rolls it back on release."""
        lock = None if self._readonly else self._db.write_lock
        if lock is not None:
            await lock.acquire()
            self._locked = True
        try:
            conn = await self._db.engine.connect()
            if self._db.framed:
                driver = (await conn.get_raw_connection()).driver_connection
                assert isinstance(driver, FramedConnection)
                driver.begin_with = self._db.session_settings(self.tenant_id)
                self._framed = driver
            if not self._readonly:
                await conn.begin()
        except BaseException:
            self._release()
            raise
        self._conn = conn
        return conn

    async def driver(self) -> Any:
        conn = await self.connection()
        raw = await conn.get_raw_connection()
        # SQLAlchemy's asyncpg adapter begins its transaction lazily, on its first statement;
        # a statement sent to the driver directly must find it begun, read-only ones too (the
        # BEGIN carries the tenant and role the row-level security policies need).
        adapted: Any = raw.dbapi_connection
        if adapted._transaction is None:
            await adapted._start_transaction()
        return raw.driver_connection

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
        self._custom_plans = True
        conn = await self.connection()
        framed = self._framed
        if framed is not None and framed.begin_with:  # not begun yet: ride on the BEGIN
            framed.begin_with += f" {CUSTOM_PLANS};"
            return
        await conn.exec_driver_sql(CUSTOM_PLANS)

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
        if self.audit_entries:
            await self._write_audit()
        if self._conn is not None and not self._readonly:
            await self._conn.commit()
        self._committed = True

    async def _write_audit(self) -> None:
        """The recorded entries, in this transaction: on PostgreSQL one INSERT riding on the
        COMMIT (no round trip of its own), elsewhere (or before any statement) one INSERT."""
        actor = self.actor or ANONYMOUS
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        request_id = request_id[:128] if isinstance(request_id, str) else None
        entries = [
            AuditRecord(str(uuid.uuid4()), at, self.tenant_id, actor, action, target_id, request_id)
            for (action, target_id), at in zip(self.audit_entries, self._audit_times, strict=True)
        ]
        framed = self._framed
        if framed is not None and framed.is_in_transaction():
            framed.commit_with = literal_insert(self._db.engine.dialect, entries)
        else:
            await self.audit_log.write(entries)

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
            self._framed = None
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

    Who acts (`uow.actor`, what the audit log records): a door binds its caller once per
    request with `db.acting(principal.actor)` and hands that handle to resolvers and routes, so
    every unit of work it opens (`run`, `query`, `db(tenant)`, `reading`) carries the actor
    without each call site passing it; `db(tenant, actor=...)` names one explicitly (worker).
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
        #: the actor of every unit of work this handle opens (see `acting`)
        self.actor: str | None = None
        #: PostgreSQL over asyncpg: units of work set the tenant (and role) on their BEGIN
        self.framed = self.dialect == "postgresql" and engine.dialect.driver == "asyncpg"
        self.app_role = self.settings.database_app_role
        self._session_settings: dict[str, str] = {}
        # SQLite allows one writer: serialise this process's writers instead of spinning on BUSY.
        self.write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    def session_settings(self, tenant_id: str) -> str:
        """The statements that open a tenant's transaction (PostgreSQL): the tenant for the
        row-level security policies and the role without BYPASSRLS, both `SET LOCAL`."""
        found = self._session_settings.get(tenant_id)
        if found is None:
            quote = literal_quoter(self.engine.dialect)
            found = (
                f"SELECT set_config('app.tenant_id', {quote(tenant_id)}, true), "
                f"set_config('role', {quote(self.app_role)}, true);"
            )
            if len(self._session_settings) >= 10_000:  # bounded: tenants come and go
                self._session_settings.clear()
            self._session_settings[tenant_id] = found
        return found

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

    def acting(self, actor: str | None) -> Database:
        """This database (same engine, pool, write lock and wiring) with `actor` on every unit
        of work it opens."""
        if actor == self.actor:
            return self
        view = copy.copy(self)
        view.actor = actor
        return view

    def __call__(self, tenant_id: str, *, actor: str | None = None) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, tenant_id, actor if actor is not None else self.actor)

    def reading(self, tenant_id: str) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, tenant_id, self.actor, readonly=True)

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
        """A raw pooled connection (tools, tests); services read through `reading()`. It is
        the owner's connection: no tenant, no role switch, so on PostgreSQL it sees rows only
        as a superuser or with BYPASSRLS (the tables force row-level security); the way for
        tools that span tenants. `custom_plans`: see `SqlUnitOfWork.plan_for_values`."""
        async with self.engine.connect() as conn:
            if custom_plans and conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(CUSTOM_PLANS)
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
