"""Numbers at the edges: token counts that sum past 32 bits, and non-finite floats.

A conversation stays writable after a message that reports the largest accepted count (the
conversation total is 64-bit; GraphQL's 32-bit `Int` output saturates), and numbers the service
cannot store faithfully (inf, nan, counts beyond 2^31-1) are refused with BAD_USER_INPUT.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GQL, error_codes
from tests.graphql.ops import ADD, GET, SET_STATE, UPDATE, create

MAX_INT = 2**31 - 1


def _bad(body: dict[str, Any], field: str) -> None:
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"].get("field") == field, body["errors"][0]


async def test_conversation_stays_writable_after_largest_token_count(gql: GQL) -> None:
    conv = await create(gql)
    big = {"role": "ASSISTANT", "content": "m", "execution": {"totalTokens": MAX_INT}}
    first = await gql.ok(ADD, {"cid": conv["id"], "input": big})
    assert first["addMessage"]["execution"]["totalTokens"] == MAX_INT
    for _ in range(2):
        again = await gql(ADD, {"cid": conv["id"], "input": big})
        assert "errors" not in again, again
    small = await gql(ADD, {"cid": conv["id"], "input": {"role": "USER", "content": "m"}})
    assert "errors" not in small, small
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert after["messageCount"] == 4
    # 3 * (2^31 - 1) + 1 does not fit GraphQL's Int: the output saturates, never INTERNAL.
    assert after["totalTokens"] == MAX_INT


async def test_prompt_plus_completion_beyond_32_bits_is_bad_input(gql: GQL) -> None:
    conv = await create(gql)
    execution = {"promptTokens": MAX_INT, "completionTokens": MAX_INT}
    body = await gql(
        ADD,
        {"cid": conv["id"], "input": {"role": "ASSISTANT", "content": "m", "execution": execution}},
    )
    _bad(body, "execution.totalTokens")
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert (after["messageCount"], after["totalTokens"]) == (0, 0)


INFINITE_LITERALS = [
    ("metadata: {x: 1e400}", "metadata"),
    ("metadata: {deep: [1, {y: -1e400}]}", "metadata"),
    ('sources: [{documentId: "d", score: 1e400}]', "sources.score"),
    ('sources: [{documentId: "d", metadata: {s: 1e999}}]', "sources.metadata"),
    ('toolCalls: [{id: "c", name: "f", arguments: {n: 1e400}}]', "toolCalls"),
    ("execution: {detail: {t: 1e400}}", "execution"),
]


@pytest.mark.parametrize(("literal", "field"), INFINITE_LITERALS)
async def test_non_finite_numbers_in_literals_are_bad_input(
    gql: GQL, literal: str, field: str
) -> None:
    conv = await create(gql)
    doc = f"""mutation {{ addMessage(conversationId: "{conv["id"]}",
      input: {{role: ASSISTANT, content: "m", {literal}}}) {{ id metadata }} }}"""
    _bad(await gql(doc), field)
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert after["messageCount"] == 0


async def test_non_finite_numbers_elsewhere_are_bad_input(gql: GQL) -> None:
    doc = "mutation { createConversation(input: {metadata: {x: 1e400}}) { id } }"
    _bad(await gql(doc), "metadata")
    conv = await create(gql, title="keep")
    upd = f'mutation {{ updateConversation(id: "{conv["id"]}", input: {{customerInfo: {{v: -1e400}}}}) {{ id }} }}'
    _bad(await gql(upd), "customerInfo")
    state = f'mutation {{ updateConversationState(conversationId: "{conv["id"]}", input: {{key: "k", value: [1e400]}}) {{ key }} }}'
    _bad(await gql(state), "value")
    after = (await gql.ok(GET, {"id": conv["id"]}))["conversation"]
    assert after["version"] == 1
    assert after["state"] == []
    # Variables cannot carry inf (JSON has no such number) but a finite float still works.
    ok = await gql(SET_STATE, {"cid": conv["id"], "input": {"key": "k", "value": 1.5e300}})
    assert "errors" not in ok, ok
    assert UPDATE  # shared document module stays the one source of documents
