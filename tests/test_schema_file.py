"""schema.graphql is the committed output of `conversation-service export-schema`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conversation_service.schema import export_sdl, schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_file_matches_export() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), "schema.graphql is stale: run `make schema`"


def test_cli_export_schema_prints_the_same() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "conversation_service", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert out == (ROOT / "schema.graphql").read_text()


def _signatures() -> set[str]:
    """Root fields as one-line signatures, `name(arg: Type, ...): Type`: the SDL prints
    described arguments one per line, so the contract's one-line form is rebuilt from the schema."""
    out: set[str] = set()
    for root in (schema._schema.query_type, schema._schema.mutation_type):
        assert root is not None
        for name, f in root.fields.items():
            args = ", ".join(f"{a}: {arg.type}" for a, arg in f.args.items())
            out.add(f"{name}({args}): {f.type}")
    return out


def test_contract_names_are_in_the_schema() -> None:
    sdl = export_sdl()
    for name in (
        "type Conversation",
        "type Message",
        "type StateEntry",
        "type ConversationConnection",
        "type MessageConnection",
        "input ConversationFilter",
    ):
        assert name in sdl, name
    signatures = _signatures()
    for signature in (
        "createConversation(input: CreateConversationInput!): Conversation!",
        "addMessage(conversationId: ID!, input: AddMessageInput!): Message!",
        "conversationState(conversationId: ID!, stateKey: String!): StateEntry",
    ):
        assert signature in signatures, signature
