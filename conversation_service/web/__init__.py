"""The HTTP/WebSocket door: Starlette app, GraphQL transport, probes."""
