"""Descriptions of arguments that several fields share (pages, dates, ids), written once so
`Query.messages` and `Conversation.messages` (and the like) cannot drift apart. Bounds are the
domain's (`domain/pagination.py`, `domain/validation.py`); out of bounds is BAD_USER_INPUT."""

from __future__ import annotations

import strawberry

from conversation_service.domain.pagination import (
    DEFAULT_MESSAGE_LIMIT,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
)


def described(text: str) -> object:
    """`Annotated[T, described("...")]`: a GraphQL argument with a description."""
    return strawberry.argument(description=text)


# --- message windows (seq order) ---------------------------------------------------------------
FIRST_MESSAGES = described(
    f"Forward page: at most this many messages (0-{MAX_PAGE_SIZE}) after `after`, from the "
    "first message when `after` is absent. Not together with `last`."
)
AFTER_MESSAGE = described(
    "A message cursor (an edge's `cursor`, `pageInfo.endCursor`): only messages after it."
)
LAST_MESSAGES = described(
    f"Backward page: the newest this many messages (0-{MAX_PAGE_SIZE}) before `before`, up to "
    "the newest message when `before` is absent; still returned in seq order. Not together "
    "with `first`."
)
BEFORE_MESSAGE = described(
    "A message cursor (`pageInfo.startCursor`): only messages before it (a backward page "
    "unless `first` is given)."
)
FROM_TIMESTAMP = described(
    "Only messages created at or after this instant; the REST API's `from_timestamp`."
)
LIMIT_MESSAGES = described(
    f"REST-style page size (1-{MAX_PAGE_SIZE}), used when neither `first` nor `last` is given; "
    f"absent: {DEFAULT_MESSAGE_LIMIT}."
)

# --- keyset pages of other lists ----------------------------------------------------------------
FIRST_PAGE = described(
    f"Page size: at most this many items (0-{MAX_PAGE_SIZE}); absent: {DEFAULT_PAGE_SIZE}."
)
AFTER_CURSOR = described(
    "A cursor from this same field (an edge's `cursor`, `pageInfo.endCursor`): the items after "
    "it. A cursor of another field is BAD_USER_INPUT."
)

# --- ids and periods ----------------------------------------------------------------------------
CONVERSATION_ID = described(
    "The conversation's id (a UUID); an unknown id, or one of another tenant, is NOT_FOUND."
)
FROM_DATE = described("Start of the period, inclusive; absent: no start.")
TO_DATE = described(
    "End of the period, inclusive; absent: no end. Before `fromDate` is BAD_USER_INPUT."
)
