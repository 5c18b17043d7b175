"""Process-wide runtime tuning shared by the server and the worker: the garbage collector.

A nested read allocates thousands of short-lived objects; with the default thresholds a quarter
of its time went to collections. Measured with `make bench` (10 clients, 20 x 20 nested read):
thresholds (5k, 10, 10) 92 req/s, p95 128 ms, p99 250 ms; (50k, 20, 20) 110 req/s, p95 104 ms,
p99 390 ms (rarer but longer young collections). Throughput and p95 win; the p99 cost is noted
in README.md.

Rare collections have a cost the thresholds cannot see: they count objects, not bytes. A large
request (a 400 KB message) allocates few tracked objects but holds its body, parsed JSON and
strings in reference cycles (frames, futures, exceptions) until a collection reaches them, so
1,200 writes of 400 KB took the server from 95 to 574 MB and kept it there.
`CollectAfterLargeBodies` adds the missing byte trigger: after every `GC_BODY_BUDGET_BYTES` of
request bodies it runs a full collection, so a burst holds at most about that much garbage
while small requests (reads) almost never reach it: 95 -> 138 MB for the same burst, and the
wrapper costs ~2 us per request (in-process, 300-byte body) against ~6.4 ms of CPU per nested
read. Hand-written because no library offers a byte-triggered collection. README.md ("Memory").
"""

from __future__ import annotations

import gc
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Request-body bytes between two forced collections: bounds what a burst of large writes holds.
GC_BODY_BUDGET_BYTES = 16 * 1024 * 1024


def tune_gc() -> None:
    """Move start-up objects out of the collector's sight (gc.freeze) and collect young objects
    less often (see the module docstring for the measurement)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


class CollectAfterLargeBodies:
    """ASGI middleware: a full `gc.collect()` once `budget` bytes of HTTP request bodies have
    arrived since the last one, run after the request that crossed the budget has answered
    (its own objects are garbage by then). Costs one counter update per body chunk."""

    def __init__(self, app: ASGIApp, budget: int = GC_BODY_BUDGET_BYTES) -> None:
        self.app = app
        self.budget = budget
        self.pending = 0
        self.collections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_receive() -> Message:
            message = await receive()
            body: Any = message.get("body")
            if body:
                self.pending += len(body)
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            if self.pending >= self.budget:
                self.pending = 0
                self.collections += 1
                gc.collect()
