"""GraphQL enums: the domain enums, exposed by member name (ACTIVE, USER...)."""

from __future__ import annotations

import strawberry

from conversation_service.domain import enums

ConversationStatus = strawberry.enum(enums.ConversationStatus, name="ConversationStatus")
MessageRole = strawberry.enum(enums.MessageRole, name="MessageRole")
StateType = strawberry.enum(enums.StateType, name="StateType")
SortOrder = strawberry.enum(enums.SortOrder, name="SortOrder")
