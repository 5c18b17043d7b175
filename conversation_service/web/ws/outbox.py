"""Frames waiting for one socket, bounded in bytes so a client that never reads costs bounded
memory.

Data frames (subscription events) are bounded by `max_bytes` (WS_MAX_BUFFER_BYTES) and by
`max_frames` (SUBSCRIBER_BUFFER): a shared group's member that hits either bound leaves its
group and continues alone from the database with backpressure (`put_data` waits). A data frame
larger than the whole bound is still taken when nothing else is queued, so one big message can
always be delivered.

Control frames (ack, complete, error, ping/pong) have a budget of their own of the same size,
so data never starves them; a pong is not queued twice while one is still unsent (a peer that
sends pings and never reads cannot grow the queue), and a control frame past the budget is
refused: the connection then closes the socket. Sizes are the frames' UTF-8 lengths (what
goes on the wire; `str.isascii` makes that free for ASCII frames).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from enum import Enum


class Kind(Enum):
    DATA = "data"
    CONTROL = "control"
    PONG = "pong"


def size(frame: str) -> int:
    return len(frame) if frame.isascii() else len(frame.encode())


class Outbox:
    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: deque[tuple[str, Kind, int]] = deque()
        self._data = 0  # data frames queued
        self.data_bytes = 0
        self.control_bytes = 0
        self._pong_queued = False
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._closed = False

    @property
    def queued_bytes(self) -> int:
        return self.data_bytes + self.control_bytes

    def _full_for(self, size: int) -> bool:
        if self._data >= self.max_frames:
            return True
        return self._data > 0 and self.data_bytes + size > self.max_bytes

    def try_put_data(self, frame: str) -> bool:
        """Queue a data frame; False when the bound is reached (the caller falls back)."""
        n = size(frame)
        if self._full_for(n):
            return False
        self._append(frame, Kind.DATA, n)
        return True

    async def put_data(self, frame: str) -> None:
        """Queue a data frame, waiting for room (backpressure for a solo subscription)."""
        n = size(frame)
        while self._full_for(n) and not self._closed:
            self._room.clear()
            await self._room.wait()
        self._append(frame, Kind.DATA, n)

    def put_control(self, frame: str, *, pong: bool = False) -> bool:
        """Queue a control frame; False when its budget is exhausted (close the socket)."""
        if self._closed:
            return True
        if pong and self._pong_queued:
            return True  # the unsent pong answers this ping too
        n = size(frame)
        if self.control_bytes + n > self.max_bytes:
            return False
        self._append(frame, Kind.PONG if pong else Kind.CONTROL, n)
        return True

    def _append(self, frame: str, kind: Kind, n: int) -> None:
        if self._closed:
            return
        self._frames.append((frame, kind, n))
        if kind is Kind.DATA:
            self._data += 1
            self.data_bytes += n
        else:
            self.control_bytes += n
            self._pong_queued = self._pong_queued or kind is Kind.PONG
        self._ready.set()
        self._empty.clear()

    def close(self) -> None:
        """Take no more frames and wake every waiter; the writer sends what is queued, then stops."""
        self._closed = True
        self._ready.set()
        self._room.set()

    def empty(self) -> bool:
        return not self._frames

    async def get(self) -> str | None:
        """Next frame, or None once closed and drained."""
        while not self._frames:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame, kind, n = self._frames.popleft()
        if not self._frames:
            self._empty.set()
        if kind is Kind.DATA:
            self._data -= 1
            self.data_bytes -= n
            self._room.set()
        else:
            self.control_bytes -= n
            if kind is Kind.PONG:
                self._pong_queued = False
        return frame

    async def drained(self, within: float) -> None:
        """Wait (at most `within` seconds) until the writer has taken every frame."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._empty.wait()
