"""`conversation-service archive export|import` as an operator runs them (real processes) on
both backends: the file holds exactly the archived conversations, a re-import restores them
row for row (search and sources included), a second import changes nothing, and a damaged
file is refused before anything is written."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text, update

from conversation_service.adapters.database import Database
from conversation_service.archive import ArchiveError, import_archive
from conversation_service.domain.analysis import MessageAnalysis
from conversation_service.domain.commands import (
    ConversationQuery,
    NewConversation,
    NewMessage,
    SearchQuery,
    StateWrite,
)
from conversation_service.domain.conversations import count_conversations, create_conversation
from conversation_service.domain.enums import ConversationStatus, MessageRole
from conversation_service.domain.messages import add_message, list_messages
from conversation_service.domain.pagination import MessageWindow
from conversation_service.domain.search import search_messages
from conversation_service.domain.sources import messages_by_source
from conversation_service.domain.state import state_versions, write_state
from conversation_service.models import conversations
from tests.helpers import row_counts


async def _cli(db: Database, *args: str) -> tuple[int, str, str]:
    url = db.engine.url.render_as_string(hide_password=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conversation_service",
        "archive",
        *args,
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _conversation(
    db: Database, tenant: str, title: str, status: ConversationStatus, last_active: str | None
) -> str:
    record, _ = await db.run(
        tenant,
        create_conversation,
        NewConversation(title=title, user_id="u-1", tags=["cold", title], status=status),
    )
    for i in range(3):
        m = NewMessage(
            role=MessageRole.USER,
            content=f"{title} zebracorn message {i}",
            sources=[{"document_id": f"doc-{title}", "metadata": {}}],
            analysis=MessageAnalysis(sentiment=0.5, intent="archive-test", entities={"i": i}),
        )
        await db.run(tenant, add_message, record.id, m)
    await db.run(tenant, write_state, record.id, StateWrite(key="step", value={"n": 3}))
    if last_active is not None:
        async with db.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.tenant_id == tenant, conversations.c.id == record.id)
                .values(last_message_at=text(f"'{last_active}'"))
            )
    return record.id


async def _snapshot(db: Database, tenant: str, cid: str) -> dict[str, Any]:
    async with db.reading(tenant) as uow:
        conv = await uow.conversations.get(cid)
        window = MessageWindow(first=100)
        msgs = (await list_messages(uow, cid, window)).items
        state = await state_versions(uow, cid, None)
    assert conv is not None
    return {
        "conversation": conv.to_dict(),
        "messages": [m.to_dict() for m in msgs],
        "state": [s.to_dict() for s in state],
    }


async def test_export_then_reimport_restores_and_is_idempotent(
    db: Database, tenant: str, tmp_path: Path
) -> None:
    old = await _conversation(db, tenant, "old", ConversationStatus.ARCHIVED, "2020-01-01 00:00:00")
    await _conversation(db, tenant, "recent", ConversationStatus.ARCHIVED, None)
    await _conversation(db, tenant, "active", ConversationStatus.ACTIVE, "2020-01-01 00:00:00")
    before = await _snapshot(db, tenant, old)
    out = tmp_path / "cold.jsonl.gz"

    code, stdout, err = await _cli(
        db, "export", "--tenant", tenant, "--before", "2021-01-01", "--out", str(out)
    )
    assert code == 0, err
    summary = orjson.loads(stdout)
    assert (summary["conversations"], summary["messages"], summary["state"]) == (1, 3, 1)
    lines = [orjson.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    assert [x["type"] for x in lines] == [
        "header",
        "conversation",
        *["message"] * 3,
        "state",
        "checksum",
    ]
    assert lines[0]["tenant_id"] == tenant
    assert lines[1]["row"]["id"] == old
    assert lines[-1]["lines"] == 6
    assert lines[-1]["digest"] == summary["digest"]

    async with db.engine.begin() as conn:  # the cold copy is the only one left
        await conn.execute(
            conversations.delete().where(
                conversations.c.tenant_id == tenant, conversations.c.id == old
            )
        )
    counts_without = await row_counts(db, tenant)

    code, stdout, err = await _cli(db, "import", str(out))
    assert code == 0, err
    assert orjson.loads(stdout) | {"path": None} == {
        "path": None,
        "tenant_id": tenant,
        "conversations": 1,
        "messages": 3,
        "state": 1,
        "skipped_conversations": 0,
    }
    assert await _snapshot(db, tenant, old) == before
    restored = await row_counts(db, tenant)
    assert restored["messages"] == counts_without["messages"] + 3
    # indexes follow the rows: search, sources, tags
    found = await db.query(tenant, search_messages, SearchQuery("zebracorn", conversation_id=old))
    assert len(found.hits) == 3
    sourced = await db.query(tenant, messages_by_source, "doc-old")
    assert [m.conversation_id for m in sourced.items] == [old] * 3
    assert await db.query(tenant, count_conversations, ConversationQuery(tags=["old"])) == 1

    code, stdout, err = await _cli(db, "import", str(out))
    assert code == 0, err
    again = orjson.loads(stdout)
    assert (again["conversations"], again["messages"], again["state"]) == (0, 0, 0)
    assert again["skipped_conversations"] == 1
    assert await row_counts(db, tenant) == restored
    assert await _snapshot(db, tenant, old) == before


async def test_damaged_files_are_refused_before_any_write(
    db: Database, tenant: str, tmp_path: Path
) -> None:
    old = await _conversation(db, tenant, "old", ConversationStatus.ARCHIVED, "2020-01-01 00:00:00")
    good = tmp_path / "good.jsonl.gz"
    code, _, err = await _cli(
        db, "export", "--tenant", tenant, "--before", "2021-01-01", "--out", str(good)
    )
    assert code == 0, err
    async with db.engine.begin() as conn:
        await conn.execute(
            conversations.delete().where(
                conversations.c.tenant_id == tenant, conversations.c.id == old
            )
        )
    counts = await row_counts(db, tenant)
    raw = good.read_bytes()
    plain = gzip.decompress(raw)

    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    tampered = plain.replace(b"old zebracorn message 1", b"new zebracorn message 1")
    no_trailer = b"".join(plain.splitlines(keepends=True)[:-1])
    cases = {
        "flipped.jsonl.gz": bytes(flipped),
        "truncated.jsonl.gz": raw[: len(raw) // 2],
        "tampered.jsonl.gz": gzip.compress(tampered),
        "no-trailer.jsonl.gz": gzip.compress(no_trailer),
        "not-gzip.jsonl.gz": plain,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ArchiveError) as refused:
            await import_archive(db, path)
        assert any(w in str(refused.value) for w in ("corrupted", "truncated", "not a")), name
        assert await row_counts(db, tenant) == counts, name
    # the command says so and exits 1, without a traceback
    code, _, err = await _cli(db, "import", str(tmp_path / "flipped.jsonl.gz"))
    assert code == 1, err
    assert "archive import refused" in err
    assert "corrupted" in err
    assert "Traceback" not in err
    assert await row_counts(db, tenant) == counts
    code, _, err = await _cli(db, "import", str(good))
    assert code == 0, err
    assert (await row_counts(db, tenant))["conversations"] == counts["conversations"] + 1


async def test_bad_arguments_exit_with_a_message(db: Database, tmp_path: Path) -> None:
    out = str(tmp_path / "x.jsonl.gz")
    code, _, err = await _cli(
        db, "export", "--tenant", "bad tenant!", "--before", "2021-01-01", "--out", out
    )
    assert code == 2
    assert "not a tenant id" in err
    code, _, err = await _cli(db, "export", "--tenant", "t", "--before", "yesterday", "--out", out)
    assert code == 2
    assert "ISO-8601" in err
    assert not await asyncio.to_thread(os.path.exists, out)
