"""GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` and the legacy `graphql-ws`.

Strawberry would execute a subscription's selection once per event *per subscriber*
(~125 us each), capping 1,000 subscribers of one conversation at ~8 messages/s. Here identical
subscriptions (same tenant, document, operation and variables) form a `Group` with one feed:
each event is executed once and serialised once, and every member gets the same payload inside
its own frame. A member whose connection cannot keep up (its outbox is full) leaves the group
and continues alone from the positions it had reached, catching up from the database, so a slow
client costs bounded memory and still gets everything.

Subscriptions resumed with `afterSeq` always run alone (their replay is their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.execution import execute_subscription_event
from graphql.execution.values import get_argument_values
from starlette.websockets import WebSocket
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from conversation_service.adapters.rate_limits import Kind, RetryAfter
from conversation_service.domain.clock import utcnow
from conversation_service.domain.errors import DomainError, Unauthenticated
from conversation_service.domain.validation import tenant_id as validate_tenant
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.resolvers.subscriptions import open_feed, position_of
from conversation_service.schema import schema
from conversation_service.schema.errors import shape_error
from conversation_service.schema.fast_path import prepare
from conversation_service.web.rate_limit import check_rate, graphql_error

log = logging.getLogger(__name__)

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)
INIT_TIMEOUT_S = 10.0


def _errors_payload(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    return [dict(shape_error(e).formatted) for e in errors]


def _domain_error_payload(exc: DomainError) -> list[dict[str, Any]]:
    return _errors_payload([GraphQLError(exc.message, original_error=exc)])


def tenant_from(payload: Any, header: str | None) -> str | None:
    """The tenant of a connection: connection_init payload first, then the upgrade header."""
    if isinstance(payload, dict):
        for key in ("tenantId", "X-Tenant-ID", "x-tenant-id", "tenant_id"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
        headers = payload.get("headers")
        if isinstance(headers, dict):
            for key, value in headers.items():
                if isinstance(key, str) and key.lower() == "x-tenant-id" and isinstance(value, str):
                    return value
    return header


class Outbox:
    """Frames waiting for the socket. Data frames are bounded (`limit`); control frames
    (ack, complete, error, ping) are few and always accepted, so they are never lost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[tuple[str, bool]] = deque()
        self._data = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._closed = False

    def try_put_data(self, frame: str) -> bool:
        if self._data >= self.limit:
            return False
        self._append(frame, True)
        return True

    async def put_data(self, frame: str) -> None:
        while self._data >= self.limit and not self._closed:
            self._room.clear()
            await self._room.wait()
        self._append(frame, True)

    def put_control(self, frame: str) -> None:
        self._append(frame, False)

    def _append(self, frame: str, is_data: bool) -> None:
        if self._closed:
            return
        self._frames.append((frame, is_data))
        self._data += is_data
        self._ready.set()
        self._empty.clear()

    def close(self) -> None:
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
        frame, is_data = self._frames.popleft()
        if not self._frames:
            self._empty.set()
        if is_data:
            self._data -= 1
            self._room.set()
        return frame

    async def drained(self, within: float) -> None:
        """Wait (at most `within` seconds) until the writer has taken every frame."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._empty.wait()


@dataclass(eq=False)
class Member:
    """One subscription (operation id) of one connection inside a group."""

    conn: Connection
    op_id: str
    field_name: str
    positions: dict[str, int] = field(default_factory=dict)

    def offer(self, payload: str, record: Any) -> bool:
        """Queue the frame; False when the connection is too slow (the outbox is full)."""
        if not self.conn.try_send(self.conn.next_frame(self.op_id, payload)):
            return False
        key, value = position_of(self.field_name, record)
        self.positions[key] = value
        return True


class Group:
    """Identical subscriptions sharing one feed and one execution per event."""

    def __init__(self, server: SubscriptionServer, key: tuple[Any, ...], op: Prepared) -> None:
        self.server = server
        self.key = key
        self.op = op
        self.members: dict[int, Member] = {}
        self._ids = itertools.count()
        self.task: asyncio.Task[None] | None = None

    def join(self, member: Member) -> int:
        ref = next(self._ids)
        self.members[ref] = member
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"subscription-group-{self.op.field}")
        return ref

    def leave(self, ref: int) -> None:
        self.members.pop(ref, None)
        if not self.members:
            self.close()

    def close(self) -> None:
        if self.server.groups.get(self.key) is self:
            del self.server.groups[self.key]
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _deliver(self, record: Any, payload: str) -> None:
        for ref, member in list(self.members.items()):
            if not member.offer(payload, record):
                # Too slow for the group: continue alone from where it was.
                self.members.pop(ref, None)
                member.conn.go_solo(member, self.op)

    async def _run(self) -> None:
        try:
            async with contextlib.aclosing(self.op.stream(self.server.container())) as events:
                async for record, payload in events:
                    self._deliver(record, payload)
                    if not self.members:
                        return
        except asyncio.CancelledError:
            raise
        except DomainError as exc:
            for member in list(self.members.values()):
                member.conn.fail(member.op_id, _domain_error_payload(exc))
        except GraphQLErrors as exc:
            for member in list(self.members.values()):
                member.conn.fail(member.op_id, _errors_payload(exc.errors))
        except Exception:
            log.exception("subscription group failed")
            for member in list(self.members.values()):
                member.conn.fail(
                    member.op_id, _errors_payload([GraphQLError("Internal server error")])
                )
        else:
            for member in list(self.members.values()):
                member.conn.finish(member.op_id)
        finally:
            if self.server.groups.get(self.key) is self:
                del self.server.groups[self.key]


@dataclass
class Prepared:
    """A validated subscription operation, bound to a tenant and variables."""

    tenant: str
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None
    field: str
    args: dict[str, Any]

    async def stream(
        self, container: Any, resume: dict[str, Any] | None = None
    ) -> AsyncGenerator[tuple[Any, str], None]:
        """(record, serialised execution result) per event of the feed."""
        ctx = GraphQLContext(container=container, raw_tenant_id=self.tenant)
        built = StrawberryGraphQLCoreExecutionContext.build(
            schema._schema,
            self.document,
            context_value=ctx,
            raw_variable_values=self.variables,
            operation_name=self.operation_name,
        )
        if isinstance(built, list):
            raise GraphQLErrors(built)
        feed, to_type = open_feed(ctx, self.field, self.args, resume)
        try:
            async for record in feed:
                ctx.loaders.clear()
                result = execute_subscription_event(built.build_per_event_executor(to_type(record)))
                if isawaitable(result):
                    result = await result
                body: dict[str, Any] = {"data": result.data}
                if result.errors:
                    body["errors"] = _errors_payload(list(result.errors))
                yield record, orjson.dumps(body).decode()
        finally:
            await feed.aclose()  # type: ignore[attr-defined]


class GraphQLErrors(Exception):
    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid request")
        self.errors = errors


class Connection:
    """One WebSocket: protocol state machine, outbox and writer, its operations."""

    def __init__(self, server: SubscriptionServer, ws: WebSocket, protocol: str) -> None:
        self.server = server
        self.ws = ws
        self.protocol = protocol
        settings = server.settings()
        self.outbox = Outbox(settings.subscriber_buffer)
        self.keepalive_s = settings.ws_keepalive_s
        self.max_ops = settings.max_subscriptions_per_connection
        self.tenant: str | None = None
        self.acked = False
        self.init_received = False
        self.ops: dict[str, Callable[[], None]] = {}
        self.solo_tasks: dict[str, asyncio.Task[None]] = {}
        self.closed = False

    # frames ------------------------------------------------------------------------------
    def next_frame(self, op_id: str, payload: str) -> str:
        kind = "next" if self.protocol == TRANSPORT_WS else "data"
        return f'{{"id":{orjson.dumps(op_id).decode()},"type":"{kind}","payload":{payload}}}'

    def try_send(self, frame: str) -> bool:
        if self.closed:
            return True  # nobody to deliver to; the operation is being torn down
        return self.outbox.try_put_data(frame)

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_control(orjson.dumps(message).decode())

    def fail(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        if self.ops.pop(op_id, None) is None:
            return
        if self.protocol == TRANSPORT_WS:
            self.send({"id": op_id, "type": "error", "payload": errors})
        else:
            self.send({"id": op_id, "type": "error", "payload": errors[0] if errors else {}})
            self.send({"id": op_id, "type": "complete"})

    def finish(self, op_id: str) -> None:
        if self.ops.pop(op_id, None) is not None:
            self.send({"id": op_id, "type": "complete"})

    # lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        writer = asyncio.create_task(self._write(), name="ws-writer")
        keepalive = asyncio.create_task(self._keepalive(), name="ws-keepalive")
        try:
            await self._read()
        finally:
            self.closed = True
            for stop in list(self.ops.values()):
                stop()
            self.ops.clear()
            keepalive.cancel()
            for task in list(self.solo_tasks.values()):
                task.cancel()
            for task in (keepalive, *self.solo_tasks.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.solo_tasks.clear()
            self.outbox.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(2.0):
                    await writer

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        """Server going away: complete every operation, then close normally."""
        for op_id in list(self.ops):
            self._stop(op_id)
            self.send({"id": op_id, "type": "complete"})
        await self.outbox.drained(1.0)
        await self.close(1001, "server shutting down")

    async def _write(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None:
                return
            try:
                await self.ws.send_text(frame)
            except Exception:
                self.closed = True
                return

    async def _keepalive(self) -> None:
        if self.keepalive_s <= 0:
            return
        while not self.closed:
            await asyncio.sleep(self.keepalive_s)
            if not self.acked:
                continue
            self.send({"type": "ping"} if self.protocol == TRANSPORT_WS else {"type": "ka"})

    async def _read(self) -> None:
        timeout: float | None = INIT_TIMEOUT_S
        while not self.closed:
            try:
                async with asyncio.timeout(timeout):
                    message = await self.ws.receive()
            except TimeoutError:
                await self.close(4408, "Connection initialisation timeout")
                return
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            try:
                data = orjson.loads(text or "")
            except orjson.JSONDecodeError:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                if self.protocol == TRANSPORT_WS:
                    await self.close(4400, "Invalid message")
                    return
                self.send({"type": "error", "payload": {"message": "Invalid message"}})
                continue
            if self.protocol == TRANSPORT_WS:
                await self._transport_ws(data)
            else:
                await self._legacy_ws(data)
            if self.acked:
                timeout = None

    # graphql-transport-ws ----------------------------------------------------------------
    async def _transport_ws(self, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "connection_init":
            if self.init_received:
                await self.close(4429, "Too many initialisation requests")
                return
            self.init_received = True
            if not self._authenticate(data.get("payload")):
                await self.close(4403, "Forbidden")
                return
            if (refused := await self._rate("ws_connect")) is not None:
                await self.close(4429, f"Rate limited: retry after {refused.seconds} s")
                return
            self.acked = True
            self.send({"type": "connection_ack"})
        elif kind == "ping":
            self.send(
                {"type": "pong", **({"payload": data["payload"]} if "payload" in data else {})}
            )
        elif kind == "pong":
            return
        elif kind == "subscribe":
            if not self.acked:
                await self.close(4401, "Unauthorized")
                return
            op_id = data.get("id")
            if not isinstance(op_id, str) or not op_id:
                await self.close(4400, "Invalid message: subscribe needs an id")
                return
            if op_id in self.ops:
                await self.close(4409, f"Subscriber for {op_id} already exists")
                return
            await self._start(op_id, data.get("payload"))
        elif kind == "complete":
            op_id = data.get("id")
            if isinstance(op_id, str):
                self._stop(op_id)
        else:
            await self.close(4400, f"Unknown message type {kind!r}")

    # graphql-ws (subscriptions-transport-ws) ---------------------------------------------
    async def _legacy_ws(self, data: dict[str, Any]) -> None:
        kind = data["type"]
        if kind == "connection_init":
            if not self._authenticate(data.get("payload")):
                self.send(
                    {
                        "type": "connection_error",
                        "payload": {"message": "Forbidden: no valid tenant"},
                    }
                )
                await self.outbox.drained(1.0)
                await self.close(4403, "Forbidden")
                return
            if (refused := await self._rate("ws_connect")) is not None:
                self.send({"type": "connection_error", "payload": graphql_error(refused)})
                await self.outbox.drained(1.0)
                await self.close(4429, f"Rate limited: retry after {refused.seconds} s")
                return
            self.acked = True
            self.send({"type": "connection_ack"})
            self.send({"type": "ka"})
        elif kind == "start":
            op_id = data.get("id")
            if not isinstance(op_id, str) or not op_id:
                self.send({"type": "error", "payload": {"message": "start needs an id"}})
                return
            if not self.acked:
                self.send({"id": op_id, "type": "error", "payload": {"message": "Unauthorized"}})
                return
            if op_id in self.ops:
                self._stop(op_id)
            await self._start(op_id, data.get("payload"))
        elif kind == "stop":
            op_id = data.get("id")
            if isinstance(op_id, str):
                self._stop(op_id)
        elif kind == "connection_terminate":
            await self.close(1000, "terminated")
        else:
            self.send({"type": "error", "payload": {"message": f"Unknown message type {kind!r}"}})

    # operations --------------------------------------------------------------------------
    def _authenticate(self, payload: Any) -> bool:
        raw = tenant_from(payload, self.ws.headers.get("x-tenant-id"))
        try:
            self.tenant = validate_tenant(raw)
        except Unauthenticated:
            return False
        return True

    async def _rate(self, kind: Kind) -> RetryAfter | None:
        assert self.tenant is not None
        return await check_rate(self.server.container(), self.tenant, kind)

    async def _start(self, op_id: str, payload: Any) -> None:
        if len(self.ops) >= self.max_ops:
            self.ops[op_id] = lambda: None
            self.fail(
                op_id,
                [
                    {
                        "message": f"At most {self.max_ops} subscriptions per connection",
                        "extensions": {"code": "RATE_LIMITED"},
                    }
                ],
            )
            return
        self.ops[op_id] = lambda: None
        if (refused := await self._rate("ws_subscribe")) is not None:
            self.fail(op_id, [graphql_error(refused)])
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            self.fail(
                op_id,
                [
                    {
                        "message": "payload.query must be a string",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ],
            )
            return
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            self.fail(
                op_id,
                [
                    {
                        "message": "variables must be an object",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ],
            )
            return
        prepared = prepare(payload["query"])
        if isinstance(prepared, list):
            self.fail(op_id, _errors_payload(prepared))
            return
        operation = get_operation_ast(prepared, operation_name)
        if operation is None:
            self.fail(
                op_id,
                [
                    {
                        "message": "Unknown or ambiguous operation",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ],
            )
            return
        if operation.operation != OperationType.SUBSCRIPTION:
            await self._execute_once(op_id, payload["query"], variables, operation_name)
            return
        try:
            op = self._bind(prepared, operation, operation_name, variables)
        except GraphQLErrors as exc:
            self.fail(op_id, _errors_payload(exc.errors))
            return
        if op.args.get("afterSeq") is not None:
            member = Member(self, op_id, op.field)
            self._run_solo(member, op, None)
            return
        key = (
            op.tenant,
            payload["query"],
            operation_name,
            orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
        )
        group = self.server.groups.get(key)
        if group is None:
            group = Group(self.server, key, op)
            self.server.groups[key] = group
        member = Member(self, op_id, op.field)
        ref = group.join(member)
        self.ops[op_id] = lambda: group.leave(ref)

    def _bind(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> Prepared:
        built = StrawberryGraphQLCoreExecutionContext.build(
            schema._schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        if isinstance(built, list):
            raise GraphQLErrors(built)
        node = operation.selection_set.selections[0]
        assert isinstance(node, FieldNode)
        subscription_type = schema._schema.subscription_type
        assert subscription_type is not None
        field_def = subscription_type.fields[node.name.value]
        try:
            args = get_argument_values(field_def, node, built.variable_values)
        except GraphQLError as exc:
            raise GraphQLErrors([exc]) from exc
        assert self.tenant is not None
        return Prepared(self.tenant, document, operation_name, variables, node.name.value, args)

    def go_solo(self, member: Member, op: Prepared) -> None:
        """Continue a subscription alone (and with backpressure) from the member's positions."""
        if self.closed or member.op_id not in self.ops:
            return
        self._run_solo(member, op, {"positions": dict(member.positions), "since": utcnow()})

    def _run_solo(self, member: Member, op: Prepared, resume: dict[str, Any] | None) -> None:
        op_id = member.op_id

        async def run() -> None:
            try:
                async with contextlib.aclosing(
                    op.stream(self.server.container(), resume)
                ) as events:
                    async for _record, payload in events:
                        if self.closed:
                            return
                        await self.outbox.put_data(self.next_frame(op_id, payload))
            except asyncio.CancelledError:
                raise
            except DomainError as exc:
                self.fail(op_id, _domain_error_payload(exc))
            except GraphQLErrors as exc:
                self.fail(op_id, _errors_payload(exc.errors))
            except Exception:
                log.exception("subscription failed")
                self.fail(op_id, _errors_payload([GraphQLError("Internal server error")]))
            else:
                self.finish(op_id)
            finally:
                self.solo_tasks.pop(op_id, None)

        task = asyncio.create_task(run(), name=f"subscription-{op.field}")
        self.solo_tasks[op_id] = task

        def stop() -> None:
            task.cancel()

        self.ops[op_id] = stop

    def _stop(self, op_id: str) -> None:
        stop = self.ops.pop(op_id, None)
        if stop is not None:
            stop()

    async def _execute_once(
        self, op_id: str, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> None:
        """Queries and mutations over the socket: one result, then complete."""
        ctx = GraphQLContext(container=self.server.container(), raw_tenant_id=self.tenant)
        result = await schema.execute(
            query, variable_values=variables, context_value=ctx, operation_name=operation_name
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = _errors_payload(list(result.errors))
        if op_id in self.ops:
            self.send(
                {
                    "id": op_id,
                    "type": "next" if self.protocol == TRANSPORT_WS else "data",
                    "payload": body,
                }
            )
            self.finish(op_id)


class SubscriptionServer:
    """Accepts WebSockets on /graphql and keeps the shared subscription groups."""

    def __init__(self, container_getter: Callable[[], Any]) -> None:
        self.container = container_getter
        self.groups: dict[tuple[Any, ...], Group] = {}
        self.connections: set[Connection] = set()
        self.closing = False

    def settings(self) -> Any:
        return self.container().settings

    async def handle(self, websocket: WebSocket) -> None:
        requested = websocket.scope.get("subprotocols") or []
        protocol = next((p for p in requested if p in PROTOCOLS), None)
        if protocol is None or self.closing:
            await websocket.close(code=4406 if protocol is None else 1001)
            return
        await websocket.accept(subprotocol=protocol)
        conn = Connection(self, websocket, protocol)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def shutdown(self) -> None:
        """Complete every subscription and close every socket (graceful shutdown)."""
        self.closing = True
        await asyncio.gather(
            *(c.shutdown() for c in list(self.connections)), return_exceptions=True
        )

    def stats(self) -> dict[str, int]:
        return {
            "ws_connections": len(self.connections),
            "ws_operations": sum(len(c.ops) for c in self.connections),
            "subscription_groups": len(self.groups),
            "solo_subscriptions": sum(len(c.solo_tasks) for c in self.connections),
        }
