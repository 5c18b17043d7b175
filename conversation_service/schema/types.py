"""Output types. Plain fields are plain attributes (no resolver): each costs a few microseconds,
an `async def` resolver costs ~5x more, and a nested read resolves thousands of them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from conversation_service.domain.enums import ConversationStatus, MessageRole, StateType
from conversation_service.domain.pagination import conversation_cursor, message_cursor
from conversation_service.domain.records import (
    ConversationRecord,
    CrmSyncStatus,
    MessageRecord,
    StateRecord,
)
from conversation_service.resolvers.loaders import (
    load_conversation,
    load_crm_sync,
    load_customer,
    load_messages,
    load_state,
)
from conversation_service.schema import enums  # noqa: F401  (registers the enums)
from conversation_service.schema.arguments import (
    AFTER_MESSAGE,
    BEFORE_MESSAGE,
    FIRST_MESSAGES,
    FROM_TIMESTAMP,
    LAST_MESSAGES,
    LIMIT_MESSAGES,
)
from conversation_service.schema.scalars import JSON, saturated_int

if TYPE_CHECKING:
    from conversation_service.domain.conversations import ConversationSlice
    from conversation_service.domain.crm_sync import CrmSyncRecord
    from conversation_service.domain.messages import MessageSlice


@strawberry.type(
    description="Where a page sits in its list. Cursors are opaque: pass them back as `after` "
    "(or `before`) of the same field, never build or parse them."
)
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when more items follow this page's last one in the list's order."
    )
    has_previous_page: bool = strawberry.field(
        description="True when items come before this page's first one (a page reached with "
        "`after`, a later offset page, or a backward page that stops short of the start)."
    )
    start_cursor: str | None = strawberry.field(
        description="Cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the page's last item (the next page's `after`); null when the "
        "page is empty."
    )


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
    kind: str = strawberry.field(
        description='What the participant is, as the caller named it ("user" when not given; '
        'e.g. "agent", "human_agent", "bot"). An open String, not an enum: the platform\'s '
        "callers define their own kinds and a new kind must not need a schema change."
    )
    display_name: str | None = strawberry.field(
        description="Name to show for the participant; null when the caller gave none."
    )
    joined_at: datetime | None = strawberry.field(
        description="When the participant joined, as the caller gave it (UTC); null when not given."
    )

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
    document_id: str = strawberry.field(
        description="The RAG document's id in the caller's knowledge base (what "
        "`messagesBySource(documentId:)` finds)."
    )
    title: str | None = strawberry.field(description="The document's title, as sent.")
    url: str | None = strawberry.field(description="Where the document lives, as sent.")
    snippet: str | None = strawberry.field(
        description="The passage of the document the message used, as sent."
    )
    score: float | None = strawberry.field(
        description="The retriever's relevance score, as sent (no scale is imposed)."
    )
    metadata: JSON = strawberry.field(
        description="Free-form JSON object sent with the source; `{}` when none."
    )

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
    execution_id: str | None = strawberry.field(
        description="The agent execution's own id, as reported."
    )
    mode: str | None = strawberry.field(
        description="How the agent ran (e.g. the orchestrator's mode name), as reported."
    )
    iterations: int | None = strawberry.field(
        description="Reasoning or tool-call rounds the execution took, as reported."
    )
    execution_time_ms: int | None = strawberry.field(
        description="Wall time of the execution, in milliseconds."
    )
    prompt_tokens: int | None = strawberry.field(
        description="Tokens the model read for this execution, as reported."
    )
    completion_tokens: int | None = strawberry.field(
        description="Tokens the model wrote for this execution, as reported."
    )
    total_tokens: int | None = strawberry.field(
        description="What the execution cost in tokens: as reported, else promptTokens + "
        "completionTokens when both were reported; it is what the message adds to "
        "`Conversation.totalTokens`."
    )
    detail: JSON | None = strawberry.field(
        description="Free-form JSON the execution reported beyond these fields; null when none."
    )

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


@strawberry.type(
    description="One key of a conversation's state: a versioned JSON value, optionally "
    "expiring. Expired entries are never returned."
)
class StateEntry:
    id: strawberry.ID = strawberry.field(
        description="`<conversationId>:<key>`: a client cache key; every version of the entry "
        "has it, so `stateChanged` updates what `Conversation.state` showed."
    )
    conversation_id: strawberry.ID = strawberry.field(
        description="The conversation the entry belongs to."
    )
    key: str = strawberry.field(description="The entry's key (1-255 characters).")
    value: JSON | None = strawberry.field(
        description="The stored JSON value; null only on a deletion delivered by `stateChanged`."
    )
    state_type: StateType = strawberry.field(description="What kind of state the entry holds.")
    version: int = strawberry.field(
        description="Bumps on every write of the key, and keeps rising across delete and "
        "re-create; pass it as `expectedVersion` for compare-and-set."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the entry expires (UTC), from the write's `ttlSeconds`; null: never."
    )
    updated_at: datetime = strawberry.field(description="When the entry was last written (UTC).")

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
    status: CrmSyncStatus = strawberry.field(
        description="Where the sync stands: NONE, PENDING, SYNCED or FAILED."
    )
    last_synced_seq: int | None = strawberry.field(
        description="The newest message seq the CRM has received; null when nothing was pushed."
    )
    synced_at: datetime | None = strawberry.field(
        description="When `lastSyncedSeq` reached the CRM (UTC); null when nothing was pushed."
    )
    attempts: int = strawberry.field(
        description="Push attempts for the newest requested seq, the successful one included."
    )
    error: str | None = strawberry.field(
        description='The last failure, for PENDING (retrying) and FAILED; "no CRM configured" '
        "with NONE when the tenant has no CRM; null otherwise. Never holds a credential."
    )

    @classmethod
    def from_record(cls, r: CrmSyncRecord) -> CrmSync:
        return cls(
            id=strawberry.ID(r.conversation_id),
            status=r.status,
            last_synced_seq=r.last_synced_seq,
            synced_at=r.synced_at,
            attempts=r.attempts,
            error=r.error,
        )


@strawberry.type(description="One message of a conversation, at its place (`seq`) in it.")
class Message:
    id: strawberry.ID = strawberry.field(description="The message's id (a UUID).")
    conversation_id: strawberry.ID = strawberry.field(
        description="The conversation the message belongs to."
    )
    seq: int = strawberry.field(
        description="Position in the conversation: 1, 2, 3... gapless, in commit order, also "
        "under concurrent writers."
    )
    role: MessageRole = strawberry.field(description="Who wrote the message.")
    content: str = strawberry.field(
        description="The message text (up to 100,000 characters); not HTML-escaped."
    )
    content_type: str = strawberry.field(
        description='The content\'s format, as the caller named it; "text" by default.'
    )
    sender_id: str | None = strawberry.field(
        description="The caller's id of whoever sent the message; null when not given."
    )
    agent_id: str | None = strawberry.field(
        description="The agent that wrote or handled the message; null when not given."
    )
    model_used: str | None = strawberry.field(
        description="The model that generated the message; null when not given."
    )
    token_count: int | None = strawberry.field(
        description="Tokens of the content: the caller's count, else the service's "
        "(cl100k_base, content only, no chat framing). Never null once stored; null only on "
        "rows written before the service counted."
    )
    processing_time_ms: int | None = strawberry.field(
        description="How long producing the message took, in milliseconds, as the caller "
        "reported; null when not given."
    )
    metadata: JSON = strawberry.field(
        description="Free-form JSON object sent with the message; `{}` when none."
    )
    tool_calls: JSON | None = strawberry.field(
        description="On an assistant message, the tools it calls: `[{id, name, arguments}]` "
        "(OpenAI chat shape); null when none."
    )
    tool_call_id: str | None = strawberry.field(
        description="On a TOOL message, the id of the tool call it answers; null otherwise."
    )
    client_message_id: str | None = strawberry.field(
        description="The caller's idempotency key, echoed; null when none was sent."
    )
    created_at: datetime = strawberry.field(
        description="When the message was committed (UTC); never decreases along `seq`."
    )
    erased: bool = strawberry.field(
        description="True for a tombstone left by retention or erasure: id and seq are kept so "
        "history stays gapless; content is empty, metadata, sources, tool calls and execution "
        "are removed. A client cache should drop what it held of this message."
    )
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

    @strawberry.field(description="The conversation the message belongs to.")
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
            erased=r.erased,
            record=r,
        )


@strawberry.type(description="A message and its cursor in the list.")
class MessageEdge:
    cursor: str = strawberry.field(
        description="Opaque position of this message: pass it as `after` or `before`."
    )
    node: Message = strawberry.field(description="The message.")


@strawberry.type(description="A page of messages, in the order its field states.")
class MessageConnection:
    nodes: list[Message] = strawberry.field(
        description="The page's messages (the same as `edges.node`, without the cursors)."
    )
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    total_count: int = strawberry.field(
        description="Messages in the whole list, whatever the page (for a conversation: its "
        "messages, those at or after `fromTimestamp` when given)."
    )
    cursors: strawberry.Private[list[str] | None] = None  # when not seq cursors (by source)

    @strawberry.field(description="The page's messages with their cursors.")
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


@strawberry.type(
    description="A conversation of the caller's tenant: its messages, state, participants and "
    "CRM link."
)
class Conversation:
    id: strawberry.ID = strawberry.field(
        description="The conversation's id (a UUID, caller-chosen or generated)."
    )
    tenant_id: str = strawberry.field(description="The tenant that owns the conversation.")
    user_id: str | None = strawberry.field(
        description="The end user the conversation is with; null when not given."
    )
    agent_id: str | None = strawberry.field(
        description="The agent running the conversation (what `agentUsage` groups by); null "
        "when not given."
    )
    session_id: str | None = strawberry.field(
        description="The caller's session id; null when not given."
    )
    title: str | None = strawberry.field(
        description="A title (up to 500 characters); null when not given."
    )
    status: ConversationStatus = strawberry.field(
        description="Lifecycle status; ACTIVE when created without one."
    )
    tags: list[str] = strawberry.field(
        description="Labels (at most 50, 1-64 characters each, no duplicates), in the order "
        "given; filter on them with `ConversationFilter.tags` / `anyTags`."
    )
    metadata: JSON = strawberry.field(
        description="Free-form JSON object (up to 64 KiB); `{}` when none. "
        "`ConversationFilter.metadata` matches on containment."
    )
    customer_info: JSON | None = strawberry.field(
        description="Free-form JSON object about the customer (its `email` links the CRM "
        "customer when `crmReferences.customer_id` is absent); null when not given."
    )
    crm_references: JSON = strawberry.field(
        description="JSON object of ids in the tenant's CRM (`customer_id` links the customer); "
        "`{}` when none."
    )
    message_count: int = strawberry.field(description="Messages in the conversation.")
    total_tokens: int = strawberry.field(
        description="Sum of the messages' usage tokens (the execution's total, else the token "
        "count); saturates at 2147483647, GraphQL's Int bound (REST answers the exact sum)."
    )
    last_message_at: datetime | None = strawberry.field(
        description="When the newest message was committed (UTC); null when there is none."
    )
    last_seq: int = strawberry.field(description="Seq of the newest message; 0 when none.")
    created_at: datetime = strawberry.field(
        description="When the conversation was created (UTC); lists and cursors order by it."
    )
    updated_at: datetime = strawberry.field(
        description="When the conversation row last changed (UTC), an added message included."
    )
    version: int = strawberry.field(
        description="Bumps on every change of the conversation row (each added message "
        "included); pass it as `expectedVersion` to `updateConversation` for compare-and-set."
    )
    record: strawberry.Private[ConversationRecord]

    @strawberry.field(
        description="Who takes part (at most 100), in the order last given; `[]` when none."
    )
    def participants(self) -> list[Participant]:
        return [Participant.from_dict(p, self.record.id) for p in self.record.participants]

    @strawberry.field(
        description="Messages in seq order: first/after forward, last/before backward, "
        "or fromTimestamp/limit as the REST API."
    )
    async def messages(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, FIRST_MESSAGES] = None,
        after: Annotated[str | None, AFTER_MESSAGE] = None,
        last: Annotated[int | None, LAST_MESSAGES] = None,
        before: Annotated[str | None, BEFORE_MESSAGE] = None,
        from_timestamp: Annotated[datetime | None, FROM_TIMESTAMP] = None,
        limit: Annotated[int | None, LIMIT_MESSAGES] = None,
    ) -> MessageConnection:
        page = await load_messages(
            info, self.record, first, after, last, before, from_timestamp, limit
        )
        return MessageConnection.from_slice(page)

    @strawberry.field(description="Live (unexpired) state entries, by key.")
    async def state(self, info: strawberry.Info) -> list[StateEntry]:
        return [StateEntry.from_record(r) for r in await load_state(info, self.record.id)]

    @strawberry.field(description="One live state entry by key; null when absent or expired.")
    async def state_entry(
        self,
        info: strawberry.Info,
        key: Annotated[str, strawberry.argument(description="The state key (1-255 characters).")],
    ) -> StateEntry | None:
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


@strawberry.type(description="A conversation and its cursor in the list.")
class ConversationEdge:
    cursor: str = strawberry.field(
        description="Opaque keyset position (createdAt, id) of this conversation: pass it as "
        "`after`."
    )
    node: Conversation = strawberry.field(description="The conversation.")


@strawberry.type(description="A page of conversations.")
class ConversationConnection:
    nodes: list[Conversation] = strawberry.field(
        description="The page's conversations (the same as `edges.node`, without the cursors)."
    )
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    page: int | None = strawberry.field(
        description="The page number of an offset page (1 when not given); null for a keyset "
        "page (first/after)."
    )
    page_size: int | None = strawberry.field(
        description="The page size of an offset page (20 when not given); null for a keyset "
        "page (first/after)."
    )
    count_query: strawberry.Private[Any]

    @strawberry.field(description="The page's conversations with their cursors.")
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
