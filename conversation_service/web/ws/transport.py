"""uvicorn's WebSocket protocol (websockets, sans-I/O) with a bound on what a peer that never
reads can make the server buffer.

uvicorn answers each WebSocket ping frame by writing the pong straight to the transport, with
no flow control: a client that sends pings and never reads grew the server's write buffer
without limit (100,000 pings of 125 bytes: +11 MB per socket, never released while the socket
stays open). Past `max_buffer_bytes` (WS_MAX_BUFFER_BYTES) of unsent bytes, the next ping
drops the connection instead of queueing another pong.
"""

from __future__ import annotations

from typing import ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    max_buffer_bytes: ClassVar[int] = 4_194_304

    def handle_ping(self) -> None:
        if self.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.transport.abort()
            return
        super().handle_ping()


def bounded_protocol(max_buffer_bytes: int) -> type[BoundedWebSocketProtocol]:
    """The protocol class for uvicorn's `ws` setting, bound to this limit."""
    return type(
        "BoundedWebSocketProtocol",
        (BoundedWebSocketProtocol,),
        {"max_buffer_bytes": max_buffer_bytes},
    )
