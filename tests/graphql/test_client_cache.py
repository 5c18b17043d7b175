"""Client caches normalise by `__typename:id`: every object type's `id` must name one object.

Regression: `Participant.id` was the participant's user id, so Apollo Client stored one
`Participant:"u1"` for every conversation that user was in, and conversation "one" showed the
display name given in conversation "two". Checked with the real Apollo Client cache (Node) and,
for every object type of the schema, by a Python check of the same rule: one id, one object.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType

from conversation_service.schema import schema
from tests.conftest import GQL
from tests.graphql.ops import create, set_state

JS = Path(__file__).resolve().parent.parent / "js"

CONVERSATION = """query($id: ID!) { conversation(id: $id) { id title
  participants { id participantId kind displayName }
  state { id key value version } crmSync { id status attempts }
  messages(first: 10) { nodes { id seq content sources { documentId title score } } } } }"""


async def _two_conversations(gql: GQL) -> tuple[dict[str, Any], dict[str, Any]]:
    one = await create(gql, title="one", participants=[{"id": "u1", "displayName": "Ana"}])
    two = await create(gql, title="two", participants=[{"id": "u1", "displayName": "Ana (VIP)"}])
    for conv, note in ((one, "first"), (two, "second")):
        await set_state(gql, conv["id"], key="step", value=note)
        await gql.ok(
            """mutation($c: ID!, $i: AddMessageInput!) { addMessage(conversationId: $c, input: $i)
                 { id } }""",
            {
                "c": conv["id"],
                "i": {
                    "role": "USER",
                    "content": note,
                    "sources": [{"documentId": "doc-1", "title": note}],
                },
            },
        )
    return one, two


def _npm_ready() -> bool:
    if shutil.which("node") is None:
        return False
    if not (JS / "node_modules" / "@apollo" / "client").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return False
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=JS,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return True


async def test_apollo_cache_keeps_each_conversations_participant(gql: GQL) -> None:
    if not _npm_ready():
        pytest.skip("Node.js and npm are needed for the Apollo Client check")
    one, two = await _two_conversations(gql)
    operations = []
    for conv in (one, two):
        variables = {"id": conv["id"]}
        # Apollo adds __typename to every selection set; ask the server the same document.
        query = CONVERSATION.replace("{ id", "{ __typename id")
        response = (await gql.raw(query, variables)).json()
        assert "errors" not in response, response
        operations.append({"query": CONVERSATION, "variables": variables, "response": response})
    run = subprocess.run(
        ["node", str(JS / "apollo_cache.mjs")],
        input=json.dumps({"operations": operations}).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    cached = json.loads(run.stdout)
    shown = [r["conversation"] for r in cached["fromCache"]]
    assert [c["title"] for c in shown] == ["one", "two"]
    assert [c["participants"][0]["displayName"] for c in shown] == ["Ana", "Ana (VIP)"]
    assert [c["participants"][0]["participantId"] for c in shown] == ["u1", "u1"]
    assert [c["state"][0]["value"] for c in shown] == ["first", "second"]
    assert [c["messages"]["nodes"][0]["sources"][0]["title"] for c in shown] == [
        "first",
        "second",
    ]
    assert f"Participant:{one['id']}:u1" in cached["keys"]  # normalised, one per conversation
    assert f"Participant:{two['id']}:u1" in cached["keys"]


def _walk(value: Any, typename: str | None, out: dict[tuple[str, Any], list[Any]]) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, typename, out)
    elif isinstance(value, dict):
        kind = value.get("__typename", typename)
        if "id" in value and kind is not None:
            out.setdefault((kind, value["id"]), []).append(
                {k: v for k, v in value.items() if not isinstance(v, dict | list)}
            )
        for item in value.values():
            _walk(item, None, out)


def _selection(t: GraphQLObjectType, depth: int) -> str:
    """Every scalar field of `t` plus, to `depth`, its object fields that take no arguments."""
    from graphql import get_named_type, is_leaf_type

    parts = ["__typename"]
    for name, f in t.fields.items():
        named = get_named_type(f.type)
        if f.args:
            continue
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType) and depth > 0:
            parts.append(f"{name} {{ {_selection(named, depth - 1)} }}")
    return " ".join(parts)


async def test_every_object_type_with_an_id_names_one_object(gql: GQL) -> None:
    one, two = await _two_conversations(gql)
    gschema = schema._schema
    conversation = gschema.type_map["Conversation"]
    assert isinstance(conversation, GraphQLObjectType)
    selection = _selection(conversation, 3)
    seen: dict[tuple[str, Any], list[Any]] = {}
    for conv in (one, two):
        query = f"""query($id: ID!) {{ conversation(id: $id) {{ {selection}
          messages(first: 10) {{ nodes {{ {_selection(gschema.type_map["Message"], 2)} }} }} }} }}"""  # type: ignore[arg-type]
        body = await gql.ok(query, {"id": conv["id"]})
        _walk(body, None, seen)
    # The same (type, id) must always carry the same fields: a cache would merge them.
    for key, versions in seen.items():
        assert all(v == versions[0] for v in versions), (key, versions)
    typenames = {t for t, _ in seen}
    with_id = {
        name
        for name, t in gschema.type_map.items()
        if isinstance(t, GraphQLObjectType) and "id" in t.fields and not name.startswith("__")
    }
    # Every type with an `id` that a conversation read reaches was checked.
    assert {"Conversation", "Message", "Participant", "StateEntry", "CrmSync"} <= typenames
    assert typenames <= with_id, typenames - with_id
