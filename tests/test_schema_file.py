"""schema.graphql is the committed output of `conversation-service export-schema`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conversation_service.schema import export_sdl

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


def test_contract_names_are_in_the_schema() -> None:
    sdl = export_sdl()
    for name in (
        "type Conversation",
        "type Message",
        "type StateEntry",
        "type ConversationConnection",
        "type MessageConnection",
        "input ConversationFilter",
        "createConversation(input: CreateConversationInput!): Conversation!",
        "addMessage(conversationId: ID!, input: AddMessageInput!): Message!",
        "conversationState(conversationId: ID!, stateKey: String!): StateEntry",
    ):
        assert name in sdl, name
