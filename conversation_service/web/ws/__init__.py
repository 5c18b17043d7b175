"""GraphQL over WebSocket on `/graphql`, split the way Strawberry splits its own protocols:

* `graphql_transport_ws`, `graphql_ws`: one module per protocol (its messages and its handling);
* `protocol`: what both protocols share, and the connection surface they talk to;
* `connection`: one socket (reader, writer, keep-alive, operations, cleanup);
* `outbox`: the frames waiting for a socket, bounded in bytes;
* `groups`: identical subscriptions sharing one execution per event;
* `operation`: parsing and binding an operation, and how its failures become errors;
* `server`: the endpoint (protocol choice, `Origin`, per-tenant limits, shutdown);
* `transport`: uvicorn's WebSocket protocol with a bound on unread pongs.

Subscriptions resumed with `afterSeq` always run alone (their replay is their own).
"""
