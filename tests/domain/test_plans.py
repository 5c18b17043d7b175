"""The hot reads keep bounded plans after PostgreSQL switches prepared statements to generic plans.

asyncpg (through SQLAlchemy) caches prepared statements per connection; from a statement's sixth
execution PostgreSQL may use a generic plan, planned without the parameter values. On skewed data
that plan read every match of a common word (search) and the whole conversation to find its
system messages (context). Here every statement the service executes is explained with its
actual row counts by `auto_explain`, loaded into the service's own sessions (the tests connect as
a superuser) and reported to the client, and each hot path runs more than five times on a small,
strongly skewed database: one conversation of 4,000 messages among 1,000 of one message, a word
in 80% of the tenant's messages, one system message per conversation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from bench.cost_growth_bench import HOT, TENANT, Shape, build
from conversation_service.bootstrap import Container, build_container
from conversation_service.config import Settings
from conversation_service.domain.clock import utcnow
from conversation_service.domain.commands import ConversationQuery, NewMessage
from conversation_service.domain.context import build_context
from conversation_service.domain.conversations import list_conversations
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.messages import add_message, list_messages, recent_messages
from conversation_service.domain.pagination import (
    ConversationPage,
    MessageWindow,
    conversation_cursor,
)
from conversation_service.domain.search import SearchQuery, count_search, search_messages
from tests.conftest import PG_ADMIN_DSN, _drop_pg_database, _unavailable, pg_url

CAP = 100  # SEARCH_MAX_CANDIDATES here: the tenant has ~4,000 matches of the common word
BOUND = 1_000  # rows any one plan node may visit (well under the 4,000 matches / messages)
RUNS = 8  # more than the five custom plans PostgreSQL tries before a generic one
SKEWED = Shape(
    "skewed", hot=4_000, g_per_conversation=1, other_conversations=20, other_per_conversation=10
)


class Plans:
    """The JSON plans auto_explain reports for the statements the service executes."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, dict[str, Any]]] = []

    def listener(self, _conn: Any, message: asyncpg.PostgresLogMessage) -> None:
        text = message.message
        if "plan:" in text:
            body = json.loads(text.split("plan:", 1)[1])
            self.logged.append((body["Query Text"], body["Plan"]))


@pytest.fixture(scope="module")
async def skewed() -> AsyncIterator[tuple[Container, Plans]]:
    name = f"cs_test_plans_{uuid.uuid4().hex[:10]}"
    try:
        await build(name, SKEWED, admin_dsn=PG_ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable("PostgreSQL", exc)
    plans = Plans()
    container = await build_container(
        Settings(auth_mode="none", database_url=pg_url(name), search_max_candidates=CAP)
    )

    @event.listens_for(container.db.engine.sync_engine, "connect")
    def _explain(dbapi_conn: Any, _entry: Any) -> None:
        async def setup(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
                "SET auto_explain.log_analyze = on; SET auto_explain.log_format = json;"
                "SET auto_explain.log_timing = off; SET client_min_messages = log"
            )
            conn.add_log_listener(plans.listener)

        dbapi_conn.run_async(setup)

    await container.db.engine.dispose()  # every connection from here on explains
    try:
        yield container, plans
    finally:
        await container.close()
        await _drop_pg_database(name)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _visited(node: dict[str, Any]) -> int:
    """Rows a node produced or threw away, over all its loops (EXPLAIN reports per loop)."""
    per_loop = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
    )
    return int(per_loop * node.get("Actual Loops", 1))


async def _plans_after_switch(
    plans: Plans, run: Callable[[], Awaitable[Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Run RUNS times; the plans of the executions from the sixth on."""
    seen: dict[str, int] = {}
    late: list[tuple[str, dict[str, Any]]] = []
    for _ in range(RUNS):
        start = len(plans.logged)
        await run()
        for query, plan in plans.logged[start:]:
            seen[query] = seen.get(query, 0) + 1
            if seen[query] > 5:
                late.append((query, plan))
    assert late, "no statement ran more than five times"
    return late


def _assert_bounded(late: list[tuple[str, dict[str, Any]]], bound: int = BOUND) -> None:
    for query, plan in late:
        worst = max(_nodes(plan), key=_visited)
        assert _visited(worst) <= bound, (
            f"a {worst['Node Type']} node ({worst.get('Index Name', worst.get('Relation Name'))})"
            f" visited {_visited(worst)} rows in:\n{query}"
        )


async def _search(db: Any, words: str, after: str | None = None) -> Any:
    return await db.query(TENANT, search_messages, SearchQuery(words), first=20, after=after)


@pytest.mark.parametrize("words", ["common", "rareword"])
async def test_search_and_its_count_read_at_most_the_capped_candidates(
    skewed: tuple[Container, Plans], words: str
) -> None:
    container, plans = skewed
    db = container.db
    first = await _search(db, words)
    assert first.hits
    assert await db.query(TENANT, count_search, SearchQuery(words)) <= CAP

    _assert_bounded(await _plans_after_switch(plans, lambda: _search(db, words)))
    _assert_bounded(
        await _plans_after_switch(plans, lambda: db.query(TENANT, count_search, SearchQuery(words)))
    )
    if first.has_next:
        after = first.hits[-1].cursor
        _assert_bounded(await _plans_after_switch(plans, lambda: _search(db, words, after)))
    async with db.read() as conn:  # the setting ended with the search's transaction
        assert await conn.scalar(text("SHOW plan_cache_mode")) == "auto"


async def test_context_reads_system_messages_by_their_partial_index(
    skewed: tuple[Container, Plans],
) -> None:
    container, plans = skewed
    db = container.db

    async def ctx() -> None:
        result = await db.query(TENANT, build_context, HOT, max_messages=50)
        assert len(result.messages) == 51  # the pinned system message and the newest 50

    late = await _plans_after_switch(plans, ctx)
    _assert_bounded(late)
    system = [plan for query, plan in late if "messages.role =" in query]
    assert system, "the system-message read did not run"
    for plan in system:
        indexes = {n.get("Index Name") for n in _nodes(plan)}
        assert "ix_messages_tenant_conversation_system" in indexes, indexes


async def test_message_windows_writes_and_resync_stay_bounded(
    skewed: tuple[Container, Plans],
) -> None:
    container, plans = skewed
    db = container.db
    since = utcnow() - timedelta(seconds=1)

    async def last50() -> None:
        found = await db.query(TENANT, list_messages, HOT, MessageWindow(last=50))
        assert len(found.items) == 50

    async def add() -> None:
        key = uuid.uuid4().hex  # a retry key: the idempotency lookup runs too
        new = NewMessage(role=MessageRole.USER, content="common", client_message_id=key)
        assert (await db.run(TENANT, add_message, HOT, new)).created

    async def resync() -> None:
        await db.query(TENANT, recent_messages, since, limit=100)

    for run in (last50, add, resync):
        _assert_bounded(await _plans_after_switch(plans, run))


@pytest.mark.parametrize(
    "query",
    [
        ConversationQuery(),
        ConversationQuery(status=ConversationStatus.COMPLETED),  # 5% of the tenant's
        ConversationQuery(agent_id="agent-rare"),  # 10%
        ConversationQuery(tags=["vip"]),  # 10%
        ConversationQuery(any_tags=["support"]),  # all
    ],
    ids=["all", "status", "agent", "tag", "any-tag"],
)
async def test_conversation_pages_stay_bounded(
    skewed: tuple[Container, Plans], query: ConversationQuery
) -> None:
    container, plans = skewed
    db = container.db
    first = await db.query(TENANT, list_conversations, query, ConversationPage(first=20))
    after = conversation_cursor(first.items[-1].created_at, first.items[-1].id)

    async def pages() -> None:
        await db.query(TENANT, list_conversations, query, ConversationPage(first=20, after=after))
        await db.query(TENANT, list_conversations, query, ConversationPage(page=3, page_size=20))

    # Well under the tenant's 1,000 conversations (the "vip" tag rows are read whole: 100).
    _assert_bounded(await _plans_after_switch(plans, pages), bound=300)
