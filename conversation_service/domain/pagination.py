"""Page arguments and opaque cursors shared by every list in the service."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from conversation_service.domain.errors import ValidationFailed

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
DEFAULT_MESSAGE_LIMIT = 50


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str, parts: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(f"{field} is not a valid cursor", field=field) from None
    values = raw.split("|")
    if len(values) != parts:
        raise ValidationFailed(f"{field} is not a valid cursor", field=field)
    return values


def conversation_cursor(created_at: datetime, conversation_id: str) -> str:
    return encode_cursor("c", created_at.isoformat(), conversation_id)


def parse_conversation_cursor(cursor: str, field: str = "after") -> tuple[datetime, str]:
    kind, ts, cid = decode_cursor(cursor, field, 3)
    if kind != "c":
        raise ValidationFailed(f"{field} is not a conversation cursor", field=field)
    try:
        return datetime.fromisoformat(ts), cid
    except ValueError:
        raise ValidationFailed(f"{field} is not a valid cursor", field=field) from None


def message_cursor(seq: int) -> str:
    return encode_cursor("m", str(seq))


def parse_message_cursor(cursor: str, field: str) -> int:
    kind, seq = decode_cursor(cursor, field, 2)
    if kind != "m" or not seq.isdigit():
        raise ValidationFailed(f"{field} is not a message cursor", field=field)
    return int(seq)


def bounded(value: int | None, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not (low <= value <= high):
        raise ValidationFailed(f"{field} must be between {low} and {high}", field=field)
    return value


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """Offset (`page`/`page_size`) or keyset (`first`/`after`) window over conversations."""

    page: int | None = None
    page_size: int | None = None
    first: int | None = None
    after: str | None = None
    descending: bool = True

    def validated(self) -> ConversationPage:
        offset_style = self.page is not None or self.page_size is not None
        cursor_style = self.first is not None or self.after is not None
        if offset_style and cursor_style:
            raise ValidationFailed(
                "use either page/pageSize or first/after, not both", field="first"
            )
        bounded(self.page, "page", 1, 2**31 - 1)
        bounded(self.page_size, "pageSize", 1, MAX_PAGE_SIZE)
        bounded(self.first, "first", 0, MAX_PAGE_SIZE)
        if self.after is not None:
            parse_conversation_cursor(self.after)
        return self

    @property
    def is_offset(self) -> bool:
        """Offset style unless a cursor argument was given (`after` alone is a keyset page too)."""
        return self.first is None and self.after is None

    @property
    def size(self) -> int:
        if self.first is not None:
            return self.first
        return self.page_size or DEFAULT_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class MessageWindow:
    """Arguments of a message list: forward (`first`/`after`), backward (`last`/`before`),
    or the REST form (`from_timestamp`/`limit`). Messages are always returned in seq order."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    from_timestamp: datetime | None = None
    limit: int | None = None

    def validated(self) -> MessageWindow:
        if self.first is not None and self.last is not None:
            raise ValidationFailed("use either first or last, not both", field="last")
        bounded(self.first, "first", 0, MAX_PAGE_SIZE)
        bounded(self.last, "last", 0, MAX_PAGE_SIZE)
        bounded(self.limit, "limit", 1, MAX_PAGE_SIZE)
        if self.after is not None:
            parse_message_cursor(self.after, "after")
        if self.before is not None:
            parse_message_cursor(self.before, "before")
        return self

    @property
    def backward(self) -> bool:
        return self.last is not None or (self.before is not None and self.first is None)

    @property
    def size(self) -> int:
        if self.first is not None:
            return self.first
        if self.last is not None:
            return self.last
        return self.limit or DEFAULT_MESSAGE_LIMIT

    @property
    def after_seq(self) -> int:
        return parse_message_cursor(self.after, "after") if self.after else 0

    @property
    def before_seq(self) -> int | None:
        return parse_message_cursor(self.before, "before") if self.before else None
