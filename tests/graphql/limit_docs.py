"""Documents exactly at each query limit of the contract (and one past it)."""

from __future__ import annotations

from graphql import Lexer, Source, TokenKind

from conversation_service.schema.limits import DEFAULT_LIMITS

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
#: (field step, type it leads to); the leaf to select for each type
_STEPS = [("messages(first: 1)", "MessageConnection"), ("nodes", "Message"), ("conversation", "C")]
_LEAF = {"C": "id", "MessageConnection": "totalCount", "Message": "seq"}


def deep(depth: int, root: str = f'conversation(id: "{UNKNOWN_ID}")') -> str:
    """A selection whose leaf sits `depth` levels below the root field (Strawberry's count)."""
    opened, kind = root, "C"
    for i in range(depth - 1):
        step, kind = _STEPS[i % 3]
        opened += " { " + step
    return "{ " + opened + " { " + _LEAF[kind] + " }" + " }" * (depth - 1) + " }"


def deep_subscription(depth: int) -> str:
    # messageAdded -> Message; continue the cycle from Message (conversation first)
    steps = [
        ("conversation", "C"),
        ("messages(first: 1)", "MessageConnection"),
        ("nodes", "Message"),
    ]
    opened, kind = "messageAdded", "Message"
    for i in range(depth - 1):
        step, kind = steps[i % 3]
        opened += " { " + step
    return "subscription { " + opened + " { " + _LEAF[kind] + " }" + " }" * (depth - 1) + " }"


def aliases(count: int) -> str:
    return (
        "{ "
        + " ".join(f'a{i}: conversation(id: "{UNKNOWN_ID}") {{ id }}' for i in range(count))
        + " }"
    )


def token_count(document: str) -> int:
    lexer, n = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        n += 1
    return n


def tokens(count: int) -> str:
    """A valid, cheap query of exactly `count` lexical tokens (inline fragments of 6 tokens:
    graphql-core's validation gives up on ~900 sibling copies of one field)."""
    head, tail = f'{{ conversation(id: "{UNKNOWN_ID}") {{ id', " } }"
    fragments, rest = divmod(count - token_count(head + tail), 6)
    document = head + " ... on Conversation { id }" * fragments + " id" * rest + tail
    assert token_count(document) == count
    return document


#: conversations(first: 50) -> 50 rows, each with messages(first: 99): 50 + 50 * 99 = 5000
AT_COST = "{ conversations(first: 50) { nodes { messages(first: 99) { nodes { seq } } } } }"
#: ...plus one message row: 5001
PAST_COST = (
    "{ conversations(first: 50) { nodes { messages(first: 99) { nodes { seq } } } }"
    f' messages(conversationId: "{UNKNOWN_ID}", first: 1) {{ totalCount }} }}'
)
#: the page size from a variable: $n = 99 costs 5000, $n = 100 costs 5050
VARIABLE_COST = "query($n: Int) { conversations(first: 50) { nodes { messages(first: $n) { nodes { seq } } } } }"


def searches(count: int) -> str:
    """`count` searches of no rows: each costs SEARCH_COST (200), so 25 are exactly 5000."""
    return (
        "{ "
        + " ".join(
            f'a{i}: searchMessages(query: "x", first: 0) {{ totalCount }}' for i in range(count)
        )
        + " }"
    )


L = DEFAULT_LIMITS
#: (limit name, document at the limit, document one past it)
EDGES: list[tuple[str, str, str]] = [
    ("MAX_QUERY_DEPTH", deep(L.max_depth), deep(L.max_depth + 1)),
    ("MAX_ALIASES", aliases(L.max_aliases), aliases(L.max_aliases + 1)),
    ("MAX_QUERY_TOKENS", tokens(L.max_tokens), tokens(L.max_tokens + 1)),
    ("MAX_QUERY_COST", AT_COST, PAST_COST),
    ("MAX_QUERY_COST", searches(25), searches(26)),
]
