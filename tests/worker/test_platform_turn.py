"""`conversation.message.create` exactly as the platform's Agent Execution Service sends it: the
turn's usage in `metadata.query_service_response.usage`, the RAG sources as chunk UUID strings in
`metadata.query_service_response.sources`; read back over GraphQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests.conftest import GQL
from tests.worker.conftest import StartWorker, Wire

READ = """
query($cid: ID!, $doc: String!) {
  messages(conversationId: $cid, first: 10) {
    nodes { seq role content tokenCount sources { documentId }
            execution { mode executionTimeMs promptTokens completionTokens totalTokens detail } }
  }
  messagesBySource(documentId: $doc) { totalCount nodes { id role content conversationId } }
}
"""


def platform_turn(tenant: str, cid: str, chunks: list[str]) -> dict[str, Any]:
    """The envelope the Agent Execution Service builds (no user_id, no correlation_id)."""
    return {
        "action_id": str(uuid.uuid4()),
        "action_type": "conversation.message.create",
        "timestamp": datetime.now(UTC).isoformat(),
        "tenant_id": tenant,
        "session_id": str(uuid.uuid4()),
        "task_id": str(uuid.uuid4()),
        "agent_id": str(uuid.uuid4()),
        "origin_service": "agent_execution_service",
        "data": {
            "conversation_id": cid,
            "message_id": str(uuid.uuid4()),
            "user_message": "What is RAG?",
            "agent_message": "Retrieval augmented generation.",
            "timestamp": datetime.now(UTC).isoformat(),
            "metadata": {
                "mode": "simple",
                "query_service_response": {
                    "message": {
                        "role": "assistant",
                        "content": "Retrieval augmented generation.",
                        "tool_calls": None,
                        "tool_call_id": None,
                        "name": None,
                    },
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                    "conversation_id": cid,
                    "execution_time_ms": 842,
                    "sources": chunks,
                    "iterations": None,
                },
            },
        },
    }


async def test_platform_turn_keeps_usage_and_chunk_sources(
    wire: Wire, start_worker: StartWorker, gql: GQL, tenant: str
) -> None:
    await start_worker()
    cid = str(uuid.uuid4())
    chunks = [str(uuid.uuid4()), str(uuid.uuid4())]
    await wire.send(platform_turn(tenant, cid, chunks))
    await wire.drained()
    data = await gql.ok(READ, {"cid": cid, "doc": chunks[1]})
    user, assistant = data["messages"]["nodes"]
    assert (user["role"], user["sources"], user["execution"]) == ("USER", [], None)
    assert assistant["role"] == "ASSISTANT"
    assert assistant["sources"] == [{"documentId": c} for c in chunks]
    execution = assistant["execution"]
    assert execution["mode"] == "simple"
    assert execution["promptTokens"] == 120
    assert execution["completionTokens"] == 30
    assert execution["totalTokens"] == 150
    assert execution["executionTimeMs"] == 842
    assert assistant["tokenCount"] == 30
    # The Query Service's answer is kept whole in the detail, its sources included.
    assert execution["detail"]["query_service_response"]["sources"] == chunks
    found = data["messagesBySource"]
    assert found["totalCount"] == 1
    assert [(m["role"], m["conversationId"]) for m in found["nodes"]] == [("ASSISTANT", cid)]
