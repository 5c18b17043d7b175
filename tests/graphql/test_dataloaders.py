"""No N+1: a nested read costs the same small number of SQL statements for 3 or 20 parents."""

from __future__ import annotations

from tests.conftest import GQL
from tests.graphql.ops import add, create, set_state
from tests.helpers import count_statements

NESTED = """{ conversations(first: 20) { nodes { id
  messages(first: 20) { nodes { seq conversation { id } } }
  state { key } } } }"""


async def statements_for(gql: GQL, db) -> tuple[int, dict]:
    with count_statements(db) as seen:
        data = await gql.ok(NESTED)
    return len(seen), data


async def test_nested_read_is_a_constant_number_of_statements(unlimited_gql: GQL, db):
    gql = unlimited_gql  # ~100 requests of one tenant: above the default RATE_LIMIT when fast

    async def seed(n: int) -> None:
        for _ in range(n):
            conv = await create(gql)
            for i in range(3):
                await add(gql, conv["id"], f"m{i}")
            await set_state(gql, conv["id"], key="k", value=1)

    await seed(3)
    few, data = await statements_for(gql, db)
    assert len(data["conversations"]["nodes"]) == 3
    await seed(17)
    many, data = await statements_for(gql, db)
    nodes = data["conversations"]["nodes"]
    assert len(nodes) == 20
    assert all([m["seq"] for m in n["messages"]["nodes"]] == [1, 2, 3] for n in nodes)
    assert all(m["conversation"]["id"] == n["id"] for n in nodes for m in n["messages"]["nodes"])
    assert all(n["state"] == [{"key": "k"}] for n in nodes)
    assert few == many
    # conversations, messages, message->conversation, state: one statement per level
    assert many <= 4


async def test_different_windows_batch_per_window(gql: GQL, db):
    for _ in range(5):
        conv = await create(gql)
        await add(gql, conv["id"])
    doc = """{ conversations(first: 10) { nodes {
      a: messages(first: 1) { nodes { seq } } b: messages(last: 1) { nodes { seq } } } } }"""
    with count_statements(db) as seen:
        data = await gql.ok(doc)
    assert len(data["conversations"]["nodes"]) == 5
    assert len(seen) <= 3
