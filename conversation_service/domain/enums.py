"""Enumerations shared by every door; values are the lowercase strings stored and used by REST."""

from __future__ import annotations

from enum import StrEnum


class ConversationStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    TRANSFERRED = "transferred"
    ARCHIVED = "archived"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"

    @classmethod
    def parse(cls, raw: str) -> MessageRole:
        """Accept the platform's older name `function` for tool messages."""
        value = raw.strip().lower()
        if value == "function":
            return cls.TOOL
        return cls(value)


class StateType(StrEnum):
    CONTEXT = "context"
    MEMORY = "memory"
    VARIABLE = "variable"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"
