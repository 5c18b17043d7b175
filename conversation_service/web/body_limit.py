"""Request bodies are bounded in size and in the time a client may take to send them.

Neither Starlette nor uvicorn bounds a request body: before this, a 200 MB POST was read into
memory and answered. This ASGI middleware answers 413 from `Content-Length` alone, before a
byte of the body is read, and counts while receiving for chunked bodies (stopping at the first
byte over the limit). The whole body must arrive within `HTTP_BODY_TIMEOUT_S` (a deadline for
the body, not per chunk: a client trickling a byte a second defeats a per-chunk timeout);
otherwise 408. Both answers close the connection, so the rest of the body is never read.

Hand-written because no maintained ASGI library does both checks; it reads the body once into
one buffer (bounded by the limit) and replays it, which every route here does anyway (JSON
bodies), so routes and FastAPI's own error handling never see a half-read body.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


def _error(message: str, limit: str) -> dict[str, object]:
    # One body both GraphQL clients (`errors`) and REST clients (`detail`) can read.
    extensions = {"code": "BAD_USER_INPUT", "limit": limit}
    return {"errors": [{"message": message, "extensions": extensions}], "detail": message}


async def send_json_error(send: Send, status: int, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """413 for a body over `max_bytes`, 408 for one not received within `timeout_s`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self) -> dict[str, object]:
        return _error(
            f"The request body exceeds the limit of {self.max_bytes} bytes", "MAX_BODY_BYTES"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await send_json_error(send, 413, self._too_large())
                    return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            await send_json_error(
                send,
                408,
                _error(
                    f"The request body was not received within {self.timeout_s:g} s",
                    "HTTP_BODY_TIMEOUT_S",
                ),
            )
            return
        except _TooLarge:
            await send_json_error(send, 413, self._too_large())
            return
        if body is None:  # the client went away
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_bytes:
                    raise _TooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
