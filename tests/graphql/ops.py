"""GraphQL documents shared by the GraphQL tests, and a few helpers built on them."""

from __future__ import annotations

from typing import Any

from tests.conftest import GQL

CONV_FIELDS = """id tenantId userId agentId sessionId title status tags metadata
  participants { id participantId kind displayName joinedAt } customerInfo crmReferences
  messageCount totalTokens lastMessageAt lastSeq createdAt updatedAt version"""
MSG_FIELDS = """id conversationId seq role content contentType senderId agentId modelUsed
  tokenCount processingTimeMs metadata clientMessageId createdAt toolCalls toolCallId
  sources { documentId title url snippet score metadata }
  execution { executionId mode iterations executionTimeMs promptTokens completionTokens totalTokens detail }"""
STATE_FIELDS = "conversationId key value stateType version expiresAt updatedAt"

CREATE = f"""mutation($input: CreateConversationInput!) {{
  createConversation(input: $input) {{ {CONV_FIELDS} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateConversationInput!) {{
  updateConversation(id: $id, input: $input) {{ {CONV_FIELDS} }} }}"""
ADD = f"""mutation($cid: ID!, $input: AddMessageInput!) {{
  addMessage(conversationId: $cid, input: $input) {{ {MSG_FIELDS} conversation {{ id lastSeq }} }} }}"""
SET_STATE = f"""mutation($cid: ID!, $input: UpdateStateInput!) {{
  updateConversationState(conversationId: $cid, input: $input) {{ {STATE_FIELDS} }} }}"""
GET = f"""query($id: ID!) {{ conversation(id: $id) {{ {CONV_FIELDS}
  state {{ key }} stateEntry(key: "k") {{ value }} }} }}"""
LIST = """query($filter: ConversationFilter, $page: Int, $pageSize: Int, $first: Int, $after: String,
  $order: SortOrder) {
  conversations(filter: $filter, page: $page, pageSize: $pageSize, first: $first, after: $after,
    order: $order) {
    totalCount page pageSize
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } } nodes { id tenantId } } }"""
MESSAGES = """query($cid: ID!, $first: Int, $after: String, $last: Int, $before: String,
  $fromTimestamp: DateTime, $limit: Int) {
  messages(conversationId: $cid, first: $first, after: $after, last: $last, before: $before,
    fromTimestamp: $fromTimestamp, limit: $limit) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { seq } } nodes { seq content } } }"""
GET_STATE = f"""query($cid: ID!, $key: String!) {{
  conversationState(conversationId: $cid, stateKey: $key) {{ {STATE_FIELDS} }} }}"""


async def create(gql: GQL, **input: Any) -> dict[str, Any]:
    data = await gql.ok(CREATE, {"input": input})
    conv: dict[str, Any] = data["createConversation"]
    return conv


async def add(gql: GQL, cid: str, content: str = "hi", **input: Any) -> dict[str, Any]:
    data = await gql.ok(ADD, {"cid": cid, "input": {"role": "USER", "content": content, **input}})
    msg: dict[str, Any] = data["addMessage"]
    return msg


async def set_state(gql: GQL, cid: str, **input: Any) -> dict[str, Any]:
    data = await gql.ok(SET_STATE, {"cid": cid, "input": input})
    entry: dict[str, Any] = data["updateConversationState"]
    return entry
