"""Worker door: counts that sum past 32 bits keep the conversation writable; out-of-range and
non-finite numbers answer VALIDATION_ERROR naming the field (Python senders write inf and nan
as `Infinity` / `NaN`, which the worker reads so that it can answer instead of dead-lettering)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from conversation_service.models import conversations, messages
from tests.worker.conftest import StartWorker, Wire

MAX_INT = 2**31 - 1


async def _totals(db: Any, tenant: str, cid: str) -> tuple[int, int]:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(conversations.c.message_count, conversations.c.total_tokens).where(
                    conversations.c.tenant_id == tenant, conversations.c.id == cid
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def _create(wire: Wire) -> str:
    cid = str(uuid.uuid4())
    created = await wire.call("conversation.create", {"conversation_id": cid})
    assert created["success"] is True, created
    return cid


async def test_large_token_counts_keep_conversation_writable(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str
) -> None:
    await start_worker()
    cid = await _create(wire)
    big = {"role": "assistant", "content": "m", "execution": {"total_tokens": MAX_INT}}
    for _ in range(3):
        reply = await wire.call("conversation.add_message", {"conversation_id": cid, **big})
        assert reply["success"] is True, reply
    assert await _totals(db, tenant, cid) == (3, 3 * MAX_INT)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"token_count": MAX_INT + 1}, "token_count"),
        (
            {"execution": {"prompt_tokens": MAX_INT, "completion_tokens": MAX_INT}},
            "execution.total_tokens",
        ),
        ({"execution": {"completion_tokens": 2**40}}, "execution.completion_tokens"),
    ],
)
async def test_out_of_range_counts_answer_validation_error(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, fields: dict[str, Any], field: str
) -> None:
    await start_worker()
    cid = await _create(wire)
    reply = await wire.call(
        "conversation.add_message",
        {"conversation_id": cid, "role": "assistant", "content": "m", **fields},
    )
    assert reply["success"] is False, reply
    assert reply["error"]["error_code"] == "VALIDATION_ERROR"
    assert reply["error"]["details"]["fields"] == [field]
    assert await _totals(db, tenant, cid) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metadata": {"x": float("inf")}}, "metadata"),
        ({"metadata": {"x": [float("nan")]}}, "metadata"),
        ({"sources": [{"document_id": "d", "score": float("-inf")}]}, "sources.score"),
    ],
)
async def test_non_finite_numbers_answer_validation_error(
    wire: Wire, start_worker: StartWorker, db: Any, tenant: str, fields: dict[str, Any], field: str
) -> None:
    await start_worker()
    cid = await _create(wire)
    action = wire.pseudo_sync(
        "conversation.add_message",
        {"conversation_id": cid, "role": "user", "content": "m", **fields},
    )
    # As a Python sender writes it: json.dumps emits Infinity / NaN by default.
    await wire.send_raw({"data": json.dumps(action)})
    reply = await wire.reply(action)
    assert reply["success"] is False, reply
    assert reply["error"]["error_code"] == "VALIDATION_ERROR"
    assert reply["error"]["details"]["fields"] == [field]
    async with db.read() as conn:
        rows = (
            await conn.execute(select(messages.c.id).where(messages.c.conversation_id == cid))
        ).all()
    assert rows == []
