"""Engine construction and the unit of work: the only place that opens transactions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from conversation_service.config import Settings
from conversation_service.domain.events import Event, EventPublisher

log = logging.getLogger(__name__)

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


class UnitOfWork:
    """One transaction; events added here are published only after a successful commit."""

    def __init__(
        self, engine: AsyncEngine, publisher: EventPublisher, lock: asyncio.Lock | None
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._lock = lock
        self._conn: AsyncConnection | None = None
        self._committed = False
        self.events: list[Event] = []
        self._after_commit: list[Callable[[], None]] = []

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "unit of work not entered"
        return self._conn

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def add_event(self, event: Event) -> None:
        self.events.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (never after a rollback)."""
        self._after_commit.append(callback)

    async def __aenter__(self) -> UnitOfWork:
        if self._lock is not None:
            await self._lock.acquire()
        try:
            self._conn = await self._engine.connect()
            await self._conn.begin()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    async def commit(self) -> None:
        await self.conn.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.conn.rollback()
        self.events.clear()
        self._after_commit.clear()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None:
                if not self._committed:
                    await self._conn.rollback()
                await self._conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()
        if self._committed:
            callbacks, self._after_commit = self._after_commit, []
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed")
        if self._committed and self.events:
            events, self.events = self.events, []
            try:
                await self._publisher.publish(events)
            except Exception:  # the commit stands; subscribers fill gaps from the database
                log.exception("publishing %d committed event(s) failed", len(events))


class Database:
    """Reads on pooled connections; writes through `unit_of_work()`."""

    def __init__(self, engine: AsyncEngine, publisher: EventPublisher) -> None:
        self.engine = engine
        self.publisher = publisher
        # SQLite allows one writer: serialise this process's writers instead of spinning on BUSY.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.publisher, self._write_lock)

    @asynccontextmanager
    async def transaction(self, uow: UnitOfWork | None = None) -> AsyncIterator[UnitOfWork]:
        """Join the caller's unit of work (it commits), or run in a new one committed here.

        Lets a door compose several domain calls, or a domain call with its own bookkeeping
        (the worker's idempotency record), into one transaction.
        """
        if uow is not None:
            yield uow
            return
        async with self.unit_of_work() as own:
            yield own
            await own.commit()

    @asynccontextmanager
    async def read(self, *, custom_plans: bool = False) -> AsyncIterator[AsyncConnection]:
        """A pooled connection for reads. `custom_plans`: statements whose best plan depends on
        the values (a word in most of a tenant's messages or in a handful) are planned for each
        execution's values on PostgreSQL. Prepared statements are cached per connection and
        PostgreSQL switches to a generic plan from the sixth execution; for full-text search
        that generic plan read every match of the word (171 ms instead of 5 ms for a word in
        68,000 of 100,000 messages). One `SET LOCAL` for the read's transaction, rolled back
        with it when the connection returns to the pool."""
        async with self.engine.connect() as conn:
            if custom_plans and conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(CUSTOM_PLANS)
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
