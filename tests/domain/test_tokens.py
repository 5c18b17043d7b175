import hashlib
import socket

import pytest

from conversation_service.domain import tokens
from tests.domain.helpers import add, conversation, msg

# Computed offline with tiktoken's cl100k_base (content only, no chat framing).
KNOWN = [
    ("hello world", 2),
    ("Hola, ¿cómo estás?", 8),
    ("The quick brown fox jumps over the lazy dog.", 10),
    ("<|endoftext|>", 7),  # special-token text is counted as plain text
    ("你好，世界", 6),  # noqa: RUF001
    ("a" * 1000, 125),
    ("", 0),
]


@pytest.mark.parametrize(("text", "expected"), KNOWN)
def test_known_counts(text: str, expected: int) -> None:
    assert tokens.count(text) == expected


def test_bundled_file_is_the_verified_cl100k_base() -> None:
    data = tokens.encoding_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == tokens.ENCODING_SHA256
    assert tokens.encoding().name == "cl100k_base"


def test_a_corrupted_file_is_refused(tmp_path) -> None:
    bad = tmp_path / "cl100k_base.tiktoken"
    bad.write_bytes(tokens.encoding_path().read_bytes()[:-10])
    with pytest.raises(RuntimeError, match="sha256"):
        tokens.load_encoding(bad)


def test_loading_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("network access while loading the encoding")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    enc = tokens.load_encoding()
    assert len(enc.encode_ordinary("hello world")) == 2


async def test_count_async_matches_inline_for_long_text() -> None:
    text = "palabra word " * 2000
    assert await tokens.count_async(text) == tokens.count(text) == 4002


async def test_stored_count_is_ours_or_the_callers(db, tenant) -> None:
    cid = await conversation(db, tenant)
    ours = await add(db, tenant, cid, msg("user", "hello world"))
    theirs = await add(db, tenant, cid, msg("user", "hello world", tokens=42))
    assert ours.token_count == 2
    assert theirs.token_count == 42
    # initial messages (appended inside create) are counted too
    cid2 = await conversation(
        db, tenant, msg("system", "The quick brown fox jumps over the lazy dog.")
    )
    from conversation_service.domain.context import build_context

    ctx = await db.query(tenant, build_context, cid2, max_messages=5)
    assert [m.token_count for m in ctx.messages] == [10]
