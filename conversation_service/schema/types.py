"""Output types. Plain fields are plain attributes (no resolver): each costs a few microseconds,
an `async def` resolver costs ~5x more, and a nested read resolves thousands of them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType
from conversation_service.domain.pagination import conversation_cursor, message_cursor
from conversation_service.domain.records import ConversationRecord, MessageRecord, StateRecord
from conversation_service.resolvers.loaders import (
    load_conversation,
    load_crm_sync,
    load_customer,
    load_messages,
    load_state,
)
from conversation_service.schema import enums  # noqa: F401  (registers the enums)
from conversation_service.schema.scalars import JSON, saturated_int

if TYPE_CHECKING:
    from conversation_service.domain.conversations import ConversationSlice
    from conversation_service.domain.crm_sync import CrmSyncRecord
    from conversation_service.domain.messages import MessageSlice


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(
    description="A participant of one conversation. `id` is unique across conversations, so "
    "client caches (Apollo, urql) keep each conversation's participant apart; the "
    "participant's own id (a user's or agent's id) is `participantId`."
)
class Participant:
    id: str = strawberry.field(
        description="`<conversationId>:<participantId>`: this participant in this conversation "
        "(a cache key; read `participantId` for the user's or agent's id)."
    )
    participant_id: str = strawberry.field(
        description="The participant's own id, as given in ParticipantInput.id."
    )
    kind: str
    display_name: str | None
    joined_at: datetime | None

    @classmethod
    def from_dict(cls, d: dict[str, Any], conversation_id: str) -> Participant:
        joined = d.get("joined_at")
        if isinstance(joined, str):
            try:
                joined_at: datetime | None = datetime.fromisoformat(joined)
            except ValueError:
                joined_at = None
        else:
            joined_at = joined
        return cls(
            id=f"{conversation_id}:{d['id']}",
            participant_id=d["id"],
            kind=d.get("kind") or "user",
            display_name=d.get("display_name"),
            joined_at=joined_at,
        )


@strawberry.type(
    description="A value (no `id`): cached as part of its message, which never changes."
)
class MessageSource:
    document_id: str
    title: str | None
    url: str | None
    snippet: str | None
    score: float | None
    metadata: JSON

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MessageSource:
        score = d.get("score")
        return cls(
            document_id=d["document_id"],
            title=d.get("title"),
            url=d.get("url"),
            snippet=d.get("snippet"),
            score=float(score) if isinstance(score, int | float) else None,
            metadata=d.get("metadata") or {},
        )


@strawberry.type(description="A value (no `id`): cached as part of its message.")
class AgentExecution:
    execution_id: str | None
    mode: str | None
    iterations: int | None
    execution_time_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    detail: JSON | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentExecution:
        return cls(
            execution_id=d.get("execution_id"),
            mode=d.get("mode"),
            iterations=d.get("iterations"),
            execution_time_ms=d.get("execution_time_ms"),
            prompt_tokens=d.get("prompt_tokens"),
            completion_tokens=d.get("completion_tokens"),
            total_tokens=d.get("total_tokens"),
            detail=d.get("detail"),
        )


@strawberry.type(
    description="What an NLP step said about a message: written with the message or later by "
    "annotateMessage. A value (no `id`): cached as part of its message."
)
class MessageAnalysis:
    sentiment: float | None = strawberry.field(
        description="From -1 (negative) to 1 (positive); null when not analysed."
    )
    intent: str | None = strawberry.field(
        description="The intent label the analysis gave the message (e.g. `refund_request`)."
    )
    entities: JSON | None = strawberry.field(
        description="Named entities found in the message, as the NLP step reports them (JSON)."
    )
    analyzed_at: datetime = strawberry.field(
        description="When this analysis was written (the message's time when sent with it)."
    )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MessageAnalysis:
        return cls(
            sentiment=d.get("sentiment"),
            intent=d.get("intent"),
            entities=d.get("entities"),
            analyzed_at=d["analyzed_at"],
        )


@strawberry.type
class StateEntry:
    id: strawberry.ID = strawberry.field(
        description="`<conversationId>:<key>`: a client cache key; every version of the entry "
        "has it, so `stateChanged` updates what `Conversation.state` showed."
    )
    conversation_id: strawberry.ID
    key: str
    value: JSON | None
    state_type: StateType
    version: int
    expires_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_record(cls, r: StateRecord) -> StateEntry:
        return cls(
            id=strawberry.ID(f"{r.conversation_id}:{r.key}"),
            conversation_id=strawberry.ID(r.conversation_id),
            key=r.key,
            value=r.value,
            state_type=r.state_type,
            version=r.version,
            expires_at=r.expires_at,
            updated_at=r.updated_at,
        )


@strawberry.type(description="Where the conversation stands with the tenant's CRM.")
class CrmSync:
    id: strawberry.ID = strawberry.field(
        description="The conversation's id (one sync state per conversation): a client cache "
        "key, so `syncConversationToCrm` updates `Conversation.crmSync`."
    )
    status: str = strawberry.field(description="NONE, PENDING, SYNCED or FAILED")
    last_synced_seq: int | None
    synced_at: datetime | None
    attempts: int = strawberry.field(
        description="push attempts for the newest requested seq, the successful one included"
    )
    error: str | None

    @classmethod
    def from_record(cls, r: CrmSyncRecord) -> CrmSync:
        return cls(
            id=strawberry.ID(r.conversation_id),
            status=r.status.value.upper(),
            last_synced_seq=r.last_synced_seq,
            synced_at=r.synced_at,
            attempts=r.attempts,
            error=r.error,
        )


@strawberry.type
class Message:
    id: strawberry.ID
    conversation_id: strawberry.ID
    seq: int
    role: MessageRole
    content: str
    content_type: str
    sender_id: str | None
    agent_id: str | None
    model_used: str | None
    token_count: int | None
    processing_time_ms: int | None
    metadata: JSON
    tool_calls: JSON | None
    tool_call_id: str | None
    client_message_id: str | None
    created_at: datetime
    record: strawberry.Private[MessageRecord]

    @strawberry.field(description="RAG documents this message used or cites.")
    def sources(self) -> list[MessageSource]:
        return [MessageSource.from_dict(s) for s in self.record.sources]

    @strawberry.field(description="What the agent execution reported, when it came from one.")
    def execution(self) -> AgentExecution | None:
        e = self.record.execution
        return AgentExecution.from_dict(e) if e is not None else None

    @strawberry.field(
        description="Sentiment, intent and entities of the message; null when never analysed."
    )
    def analysis(self) -> MessageAnalysis | None:
        a = self.record.analysis
        return MessageAnalysis.from_dict(a) if a is not None else None

    @strawberry.field
    async def conversation(self, info: strawberry.Info) -> Conversation:
        return Conversation.from_record(await load_conversation(info, self.record.conversation_id))

    @classmethod
    def from_record(cls, r: MessageRecord) -> Message:
        return cls(
            id=strawberry.ID(r.id),
            conversation_id=strawberry.ID(r.conversation_id),
            seq=r.seq,
            role=r.role,
            content=r.content,
            content_type=r.content_type,
            sender_id=r.sender_id,
            agent_id=r.agent_id,
            model_used=r.model_used,
            token_count=r.token_count,
            processing_time_ms=r.processing_time_ms,
            metadata=r.metadata,
            tool_calls=r.tool_calls,
            tool_call_id=r.tool_call_id,
            client_message_id=r.client_message_id,
            created_at=r.created_at,
            record=r,
        )


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type
class MessageConnection:
    nodes: list[Message]
    page_info: PageInfo
    total_count: int
    cursors: strawberry.Private[list[str] | None] = None  # when not seq cursors (by source)

    @strawberry.field
    def edges(self) -> list[MessageEdge]:
        if self.cursors is not None:
            return [
                MessageEdge(cursor=c, node=n) for c, n in zip(self.cursors, self.nodes, strict=True)
            ]
        return [MessageEdge(cursor=message_cursor(n.seq), node=n) for n in self.nodes]

    @classmethod
    def from_slice(cls, s: MessageSlice) -> MessageConnection:
        nodes = [Message.from_record(r) for r in s.items]
        return cls(
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=s.has_next,
                has_previous_page=s.has_previous,
                start_cursor=message_cursor(nodes[0].seq) if nodes else None,
                end_cursor=message_cursor(nodes[-1].seq) if nodes else None,
            ),
            total_count=s.total,
        )


@strawberry.type
class Conversation:
    id: strawberry.ID
    tenant_id: str
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    title: str | None
    status: ConversationStatus
    tags: list[str]
    metadata: JSON
    customer_info: JSON | None
    crm_references: JSON
    message_count: int
    total_tokens: int = strawberry.field(
        description="Sum of the messages' usage tokens (the execution's total, else the token "
        "count); saturates at 2147483647, GraphQL's Int bound (REST answers the exact sum)."
    )
    last_message_at: datetime | None
    last_seq: int = strawberry.field(description="seq of the newest message, 0 when none")
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="bumps on every change of the conversation row")
    record: strawberry.Private[ConversationRecord]

    @strawberry.field
    def participants(self) -> list[Participant]:
        return [Participant.from_dict(p, self.record.id) for p in self.record.participants]

    @strawberry.field(
        description="Messages in seq order: first/after forward, last/before backward, "
        "or fromTimestamp/limit as the REST API."
    )
    async def messages(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        from_timestamp: datetime | None = None,
        limit: int | None = None,
    ) -> MessageConnection:
        page = await load_messages(
            info, self.record, first, after, last, before, from_timestamp, limit
        )
        return MessageConnection.from_slice(page)

    @strawberry.field(description="Live (unexpired) state entries, by key.")
    async def state(self, info: strawberry.Info) -> list[StateEntry]:
        return [StateEntry.from_record(r) for r in await load_state(info, self.record.id)]

    @strawberry.field
    async def state_entry(self, info: strawberry.Info, key: str) -> StateEntry | None:
        for record in await load_state(info, self.record.id):
            if record.key == key:
                return StateEntry.from_record(record)
        return None

    @strawberry.field(
        description="The linked customer from the tenant's CRM (crmReferences.customer_id, else "
        "customerInfo.email), cached; null when none or unreachable (see extensions.warnings)."
    )
    async def customer(self, info: strawberry.Info) -> JSON | None:
        customer: JSON | None = await load_customer(info, self.record)
        return customer

    @strawberry.field(description="Sync state with the tenant's CRM.")
    async def crm_sync(self, info: strawberry.Info) -> CrmSync:
        return CrmSync.from_record(await load_crm_sync(info, self.record.id))

    @classmethod
    def from_record(cls, r: ConversationRecord) -> Conversation:
        return cls(
            id=strawberry.ID(r.id),
            tenant_id=r.tenant_id,
            user_id=r.user_id,
            agent_id=r.agent_id,
            session_id=r.session_id,
            title=r.title,
            status=r.status,
            tags=r.tags,
            metadata=r.metadata,
            customer_info=r.customer_info,
            crm_references=r.crm_references,
            message_count=r.message_count,
            total_tokens=saturated_int(r.total_tokens),
            last_message_at=r.last_message_at,
            last_seq=r.last_seq,
            created_at=r.created_at,
            updated_at=r.updated_at,
            version=r.version,
            record=r,
        )


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class ConversationConnection:
    nodes: list[Conversation]
    page_info: PageInfo
    page: int | None
    page_size: int | None
    count_query: strawberry.Private[Any]

    @strawberry.field
    def edges(self) -> list[ConversationEdge]:
        return [
            ConversationEdge(cursor=conversation_cursor(n.created_at, n.id), node=n)
            for n in self.nodes
        ]

    @strawberry.field(description="Conversations matching the filter (counted only when asked).")
    async def total_count(self) -> int:
        return int(await self.count_query())

    @classmethod
    def from_slice(cls, s: ConversationSlice, count_query: Any) -> ConversationConnection:
        nodes = [Conversation.from_record(r) for r in s.items]
        return cls(
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=s.has_next,
                has_previous_page=s.has_previous,
                start_cursor=conversation_cursor(nodes[0].created_at, nodes[0].id)
                if nodes
                else None,
                end_cursor=conversation_cursor(nodes[-1].created_at, nodes[-1].id)
                if nodes
                else None,
            ),
            page=s.page,
            page_size=s.page_size,
            count_query=count_query,
        )
