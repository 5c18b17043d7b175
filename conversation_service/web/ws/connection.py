"""One WebSocket: its reader, writer and keep-alive, its operations, and a cleanup that leaves
nothing behind.

Every task a connection starts (solo subscriptions, the group tasks it was the last member
of) is awaited before the connection is gone; a task that swallowed its cancellation (Python
3.11's `asyncio.wait_for` does when the cancellation lands as its inner task completes) is
cancelled again until it ends (`reap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any
from typing import Protocol as TypingProtocol

import orjson
from starlette.websockets import WebSocket

from conversation_service.adapters.db_errors import Unavailable
from conversation_service.domain.clock import utcnow
from conversation_service.domain.errors import DomainError, Unauthenticated
from conversation_service.domain.identity import Principal
from conversation_service.domain.validation import tenant_id as validate_tenant
from conversation_service.schema.limits import QueryLimits
from conversation_service.web.rate_limit import check_rate, graphql_error
from conversation_service.web.ws.groups import Groups, Member
from conversation_service.web.ws.operation import (
    ErrorList,
    OneShot,
    Prepared,
    bad_input,
    execute_once,
    parse_operation,
    run_stream,
)
from conversation_service.web.ws.outbox import Outbox
from conversation_service.web.ws.protocol import Protocol, Refusal
from conversation_service.web.ws.tenant_limits import TenantLimits


class ServerPort(TypingProtocol):
    """What a connection needs of its server (the server module imports this one)."""

    container: Callable[[], Any]
    groups: Groups

    @property
    def limits(self) -> TenantLimits: ...

    def settings(self) -> Any: ...


log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 10.0
#: how long a closing socket may take to flush its last frames
CLOSE_TIMEOUT_S = 2.0

#: stops an operation; returns a task still to await (a group it was the last member of)
Stop = Callable[[], "asyncio.Task[None] | None"]


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


def _header_values(payload: Any, names: tuple[str, ...]) -> list[str]:
    """String values under any of `names` (compared without case) at the payload's top level
    and in its `headers` object."""
    found: list[str] = []
    if not isinstance(payload, dict):
        return found
    for scope in (payload, payload.get("headers")):
        if isinstance(scope, dict):
            for key, value in scope.items():
                if isinstance(key, str) and key.lower() in names and isinstance(value, str):
                    found.append(value)
    return found


def credentials_from(
    payload: Any, authorization: str | None, api_key: str | None
) -> tuple[list[str], list[str]]:
    """(Authorization values, X-API-Key values) of a connection: the connection_init payload's
    (`{"authorization": "Bearer ..."}`, `{"headers": {"Authorization": ...}}`), else the
    upgrade request's headers."""
    auth = _header_values(payload, ("authorization",))
    keys = _header_values(payload, ("x-api-key", "apikey", "api_key"))
    if auth or keys:
        return auth, keys
    return ([authorization] if authorization else []), ([api_key] if api_key else [])


async def reap(tasks: Iterable[asyncio.Task[Any]], *, every: float = 0.2) -> None:
    """Cancel `tasks` and wait until each has ended, cancelling again any that swallowed it."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)


def _never_stopped() -> None:
    return None


class Connection:
    """One WebSocket speaking `protocol`."""

    def __init__(self, server: ServerPort, ws: WebSocket, protocol: Protocol) -> None:
        self.server = server
        self.ws = ws
        self.protocol = protocol
        settings = server.settings()
        self.outbox = Outbox(settings.subscriber_buffer, settings.ws_max_buffer_bytes)
        self.keepalive_s = settings.ws_keepalive_s
        self.max_ops = settings.max_subscriptions_per_connection
        self.tenant: str | None = None
        #: who the connection acts as (AUTH_MODE=required), and the token to re-check
        self.principal: Principal | None = None
        self._token: tuple[list[str], list[str]] | None = None
        self.recheck_s = float(getattr(settings, "ws_auth_recheck_s", 30.0))
        self.acked = False
        self.init_received = False
        #: operation id -> how to stop it
        self.ops: dict[str, Stop] = {}
        #: operations holding a subscription slot, and of which tenant
        self.counted: dict[str, str] = {}
        self.solo_tasks: dict[str, asyncio.Task[None]] = {}
        #: tasks of stopped operations still finishing (reaped at close)
        self.stopping: set[asyncio.Task[None]] = set()
        self.closed = False
        self._reader: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # the connection's surface for protocols ----------------------------------------------
    async def admit(self, payload: Any) -> None:
        raw = tenant_from(payload, self.ws.headers.get("x-tenant-id"))
        auth = self.server.container().auth
        if auth.required:
            credentials = credentials_from(
                payload, self.ws.headers.get("authorization"), self.ws.headers.get("x-api-key")
            )
            try:
                principal = await auth.principal(
                    authorization=credentials[0],
                    api_key=credentials[1],
                    tenant=[raw] if raw is not None else [],
                )
            except Unavailable:
                raise Refusal(1011, "Authentication is unavailable; retry later") from None
            except DomainError:  # no, bad or foreign credential: one answer for all
                raise Refusal(4403, "Forbidden") from None
            tenant = principal.tenant_id
            self.principal, self._token = principal, credentials
        else:
            try:
                tenant = validate_tenant(raw)
            except Unauthenticated:
                raise Refusal(4403, "Forbidden") from None
        if tenant == self.tenant:
            return  # initialised again (graphql-ws allows it) for the same tenant
        if not self.server.limits.open_connection(tenant):
            raise Refusal(4429, "Too many connections")
        if self.tenant is not None:
            self.server.limits.close_connection(self.tenant)
        self.tenant = tenant

    async def admit_rate(self) -> None:
        assert self.tenant is not None
        refused = await check_rate(self.server.container(), self.tenant, "ws_connect")
        if refused is not None:
            error = graphql_error(refused)
            raise Refusal(4429, error["message"], error["extensions"])

    def send(self, message: dict[str, Any], *, pong: bool = False) -> None:
        if self.closed:
            return
        if not self.outbox.put_control(orjson.dumps(message).decode(), pong=pong):
            self.abort("Client does not read its messages")

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        await self._close_socket(code, reason)

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):  # a peer that never reads
                await self.ws.close(code=code, reason=reason)

    async def flush(self, within: float) -> None:
        await self.outbox.drained(within)

    def has_operation(self, op_id: str) -> bool:
        return op_id in self.ops

    async def start(self, op_id: str, payload: Any) -> None:
        assert self.tenant is not None
        if len(self.ops) >= self.max_ops:
            message = f"At most {self.max_ops} subscriptions per connection"
            self._refuse(op_id, bad_input(message, "RATE_LIMITED"))
            return
        refused = await check_rate(self.server.container(), self.tenant, "ws_subscribe")
        if refused is not None:
            self._refuse(op_id, [graphql_error(refused)])
            return
        limits = QueryLimits.of(self.server.settings())
        parsed = await parse_operation(self.tenant, payload, limits, self.principal)
        if isinstance(parsed, list):
            self._refuse(op_id, parsed)
            return
        if isinstance(parsed, OneShot):
            self.ops[op_id] = _never_stopped
            body = await execute_once(self.server.container(), self.tenant, parsed)
            if op_id in self.ops:
                self.send(self.protocol.result(op_id, body))
                self.finish(op_id)
            return
        if not self.server.limits.open_subscription(self.tenant):
            message = f"At most {self.server.limits.max_subscriptions} subscriptions per tenant"
            self._refuse(op_id, bad_input(message, "RATE_LIMITED"))
            return
        self.counted[op_id] = self.tenant
        op = parsed.op
        member = Member(self, op_id, op.field)
        if op.args.get("afterSeq") is not None:
            self._run_solo(member, op, None)  # a resumed subscription replays on its own
        else:
            self.ops[op_id] = self.server.groups.join(parsed.group_key, op, member)

    def stop(self, op_id: str) -> None:
        stop = self._end(op_id)
        if stop is not None:
            self._keep(stop())

    # operations ending -------------------------------------------------------------------
    def _end(self, op_id: str) -> Stop | None:
        stop = self.ops.pop(op_id, None)
        tenant = self.counted.pop(op_id, None)
        if tenant is not None:
            self.server.limits.close_subscription(tenant)
        return stop

    def _keep(self, task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            self.stopping.add(task)
            task.add_done_callback(self.stopping.discard)

    def _refuse(self, op_id: str, errors: ErrorList) -> None:
        self.ops[op_id] = _never_stopped
        self.fail(op_id, errors)

    def fail(self, op_id: str, errors: ErrorList) -> None:
        if self._end(op_id) is None:
            return
        for frame in self.protocol.errors(op_id, errors):
            self.send(frame)

    def finish(self, op_id: str) -> None:
        if self._end(op_id) is not None:
            self.send(self.protocol.complete(op_id))

    # data frames -------------------------------------------------------------------------
    def try_send_data(self, op_id: str, payload: str) -> bool:
        """Queue an event for a group member; False when the outbox is full (go solo)."""
        if self.closed:
            return True  # nobody to deliver to; the operation is being torn down
        return self.outbox.try_put_data(self.protocol.next_frame(op_id, payload))

    def go_solo(self, member: Member, op: Prepared) -> None:
        """Continue a subscription alone (and with backpressure) from the member's positions."""
        if self.closed or member.op_id not in self.ops:
            return
        self._run_solo(member, op, {"positions": dict(member.positions), "since": utcnow()})

    def _run_solo(self, member: Member, op: Prepared, resume: dict[str, Any] | None) -> None:
        op_id = member.op_id

        async def deliver(_record: Any, payload: str) -> bool:
            if self.closed:
                return False
            await self.outbox.put_data(self.protocol.next_frame(op_id, payload))
            return True

        async def run() -> None:
            try:
                await run_stream(
                    op,
                    self.server.container(),
                    resume,
                    deliver,
                    lambda errors: self.fail(op_id, errors),
                    lambda: self.finish(op_id),
                )
            finally:
                self.solo_tasks.pop(op_id, None)

        task = asyncio.create_task(run(), name=f"subscription-{op.field}")
        self.solo_tasks[op_id] = task

        def stop() -> asyncio.Task[None]:
            task.cancel()
            return task

        self.ops[op_id] = stop

    # lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        writer = asyncio.create_task(self._write(), name="ws-writer")
        keepalive = asyncio.create_task(self._keepalive(), name="ws-keepalive")
        recheck = asyncio.create_task(self._recheck(), name="ws-auth-recheck")
        reader = self._reader = asyncio.create_task(self._read(), name="ws-reader")
        try:
            await asyncio.wait({reader})
        finally:
            self.closed = True
            for op_id in list(self.ops):
                self.stop(op_id)
            await reap([reader, keepalive, recheck, *self.solo_tasks.values(), *self.stopping])
            self.solo_tasks.clear()
            if self.tenant is not None:
                self.server.limits.close_connection(self.tenant)
                self.tenant = None
            self.outbox.close()
            if self._closer is not None:  # the close of an aborted socket has its own timeout
                await asyncio.wait({self._closer})
            await asyncio.wait({writer}, timeout=CLOSE_TIMEOUT_S)
            await reap([writer])

    def abort(self, reason: str) -> None:
        """Give up on a peer that does not read: stop reading, close with 1008."""
        if self.closed:
            return
        log.info("closing a WebSocket: %s", reason)
        self.closed = True
        self.outbox.close()
        self._closer = asyncio.create_task(self._close_socket(1008, reason), name="ws-abort")
        if self._reader is not None:
            self._reader.cancel()

    async def shutdown(self) -> None:
        """Server going away: complete every operation, then close normally."""
        for op_id in list(self.ops):
            self.stop(op_id)
            self.send(self.protocol.complete(op_id))
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
            if self.acked:
                self.send(self.protocol.keepalive())

    async def _recheck(self) -> None:
        """Verify the connection's credential again every WS_AUTH_RECHECK_S: a key revoked
        (seen within API_KEY_CACHE_TTL_S) or a token expired closes the socket with 4403, so
        a socket outlives its credential by at most the sum of the two (a minute by default)."""
        if self.recheck_s <= 0:
            return
        while not self.closed:
            await asyncio.sleep(self.recheck_s)
            if self._token is None:
                continue
            auth = self.server.container().auth
            try:
                await auth.principal(
                    authorization=self._token[0],
                    api_key=self._token[1],
                    tenant=[self.tenant] if self.tenant else [],
                )
            except Unavailable:
                continue  # the database is down: not a reason to drop subscribers
            except DomainError:
                log.info("closing a WebSocket: its credential is no longer valid")
                await self.close(4403, "Forbidden")
                if self._reader is not None:
                    self._reader.cancel()
                return

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
                if await self.protocol.invalid(self):
                    return
                continue
            await self.protocol.handle(self, data)
            if self.acked:
                timeout = None
