"""Token counting for messages whose caller gave no count (stored at write time)."""

from __future__ import annotations


def count(content: str) -> int | None:
    """The service's own count; None until a tokenizer is configured."""
    return None
