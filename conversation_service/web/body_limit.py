"""Request bodies are bounded in size and in the time a client may take to send them.

Neither Starlette nor uvicorn bounds a request body: before this, a 200 MB POST was read into
memory and answered. The HTTP door answers 413 from `Content-Length` alone, before a
byte of the body is read, and counts while receiving for chunked bodies (stopping at the first
byte over the limit). The whole body must arrive within `HTTP_BODY_TIMEOUT_S` (a deadline for
the body, not per chunk: a client trickling a byte a second defeats a per-chunk timeout);
otherwise 408. Both answers close the connection, so the rest of the body is never read.

Hand-written (in `http_door.HttpDoor`) because no maintained ASGI library does both checks; it
reads the body once into one buffer (bounded by the limit) and replays it, which every route here does anyway (JSON
bodies), so routes and FastAPI's own error handling never see a half-read body.
"""

from __future__ import annotations

import orjson
from starlette.types import Receive, Send


class BodyTooLarge(Exception):
    pass


def body_error(max_bytes: int, timeout_s: float | None) -> dict[str, object]:
    """The 413 body (no `timeout_s`) or the 408 body. One body both GraphQL clients (`errors`)
    and REST clients (`detail`) can read."""
    if timeout_s is None:
        message = f"The request body exceeds the limit of {max_bytes} bytes"
        limit = "MAX_BODY_BYTES"
    else:
        message = f"The request body was not received within {timeout_s:g} s"
        limit = "HTTP_BODY_TIMEOUT_S"
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


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body (None when the client went away); BodyTooLarge at the first byte over."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
