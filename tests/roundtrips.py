"""Counting database round trips: every request asyncpg sends and waits on (a simple query, a
prepare, a bind-and-execute), per connection of an engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: the protocol calls that send one message and wait for its answer
ROUND_TRIPS = frozenset(
    {"query", "prepare", "bind_execute", "bind_execute_many", "bind", "execute", "close_statement"}
)


class _CountingProtocol:
    def __init__(self, protocol: Any, seen: list[str]) -> None:
        self._protocol = protocol
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._protocol, name)
        if name not in ROUND_TRIPS:
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._seen.append(f"{name}: {args[0] if name == 'query' else ''}".strip())
            return value(*args, **kwargs)

        return counted


@contextmanager
def count_round_trips(driver_connections: list[Any]) -> Iterator[list[str]]:
    """Within the block, records one line per round trip on the given asyncpg connections."""
    seen: list[str] = []
    originals = [(c, c._protocol) for c in driver_connections]
    for c, protocol in originals:
        c._protocol = _CountingProtocol(protocol, seen)
    try:
        yield seen
    finally:
        for c, protocol in originals:
            c._protocol = protocol
