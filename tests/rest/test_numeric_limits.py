"""REST: counts that sum past 32 bits stay writable and exact; out-of-range and non-finite
numbers are 422s naming the field (never a 500, never stored as null)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rest.conftest import Rest, assert_422

MAX_INT = 2**31 - 1


async def test_conversation_total_is_exact_beyond_32_bits(rest: Rest) -> None:
    conv = await rest.create()
    big = {"role": "assistant", "content": "m", "execution": {"total_tokens": MAX_INT}}
    for _ in range(3):
        await rest.add(conv["id"], **big)
    await rest.add(conv["id"], content="m", token_count=1)
    got = await rest.get(f"/conversations/{conv['id']}")
    assert got.status_code == 200, got.text
    assert got.json()["total_tokens"] == 3 * MAX_INT + 1
    assert got.json()["message_count"] == 4


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"token_count": MAX_INT + 1}, ["body", "token_count"]),
        ({"processing_time_ms": 2**40}, ["body", "processing_time_ms"]),
        ({"execution": {"total_tokens": MAX_INT + 1}}, ["body", "execution", "total_tokens"]),
        ({"execution": {"prompt_tokens": -1}}, ["body", "execution", "prompt_tokens"]),
        (
            {"execution": {"prompt_tokens": MAX_INT, "completion_tokens": MAX_INT}},
            ["body", "execution", "total_tokens"],
        ),
    ],
)
async def test_out_of_range_counts_are_422(
    rest: Rest, body: dict[str, Any], loc: list[Any]
) -> None:
    conv = await rest.create()
    response = await rest.post(
        f"/conversations/{conv['id']}/messages", json={"role": "assistant", "content": "m", **body}
    )
    assert_422(response, loc)
    got = (await rest.get(f"/conversations/{conv['id']}")).json()
    assert (got["message_count"], got["total_tokens"]) == (0, 0)


# Python's own JSON reader would accept these tokens (as inf/nan); the body reader must not.
NON_FINITE_BODIES = [
    (b'{"role": "user", "content": "m", "metadata": {"x": 1e400}}', ["body"]),
    (b'{"role": "user", "content": "m", "metadata": {"x": [NaN]}}', ["body"]),
    (
        b'{"role": "user", "content": "m", "sources": [{"document_id": "d", "score": Infinity}]}',
        ["body"],
    ),
    (b'{"role": "user", "content": "m", "execution": {"detail": {"t": -Infinity}}}', ["body"]),
]


@pytest.mark.parametrize(("raw", "loc"), NON_FINITE_BODIES)
async def test_non_finite_numbers_are_422(rest: Rest, raw: bytes, loc: list[Any]) -> None:
    conv = await rest.create()
    response = await rest.post(
        f"/conversations/{conv['id']}/messages",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert_422(response, loc)
    assert (await rest.get(f"/conversations/{conv['id']}")).json()["message_count"] == 0


async def test_non_finite_numbers_in_conversations_and_state_are_422(rest: Rest) -> None:
    created = await rest.post(
        "/conversations",
        content=b'{"metadata": {"x": 1e400}}',
        headers={"Content-Type": "application/json"},
    )
    assert_422(created, ["body"])
    conv = await rest.create()
    state = await rest.post(
        f"/conversations/{conv['id']}/state",
        content=b'{"key": "k", "value": {"v": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert_422(state, ["body"])
    assert (await rest.get(f"/conversations/{conv['id']}/state/k")).status_code == 404
