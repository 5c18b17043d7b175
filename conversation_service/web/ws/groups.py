"""Identical subscriptions share one feed and one execution per event.

Strawberry would execute a subscription's selection once per event *per subscriber* (~125 us
each), capping 1,000 subscribers of one conversation at ~8 messages/s. Subscriptions with the
same tenant, document, operation and variables form a `Group`: each event is executed and
serialised once, and every member gets the same payload inside its own frame. A member whose
connection cannot keep up (its outbox is full) leaves the group and continues alone from the
positions it had reached, catching up from the database.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

from conversation_service.resolvers.subscriptions import position_of
from conversation_service.web.ws.operation import ErrorList, Prepared, run_stream


class MemberSocket(TypingProtocol):
    """What a group needs of a member's connection (the connection module imports this one)."""

    def fail(self, op_id: str, errors: ErrorList) -> None: ...

    def finish(self, op_id: str) -> None: ...

    def try_send_data(self, op_id: str, payload: str) -> bool: ...

    def go_solo(self, member: Member, op: Prepared) -> None: ...


@dataclass(eq=False)
class Member:
    """One subscription (operation id) of one connection inside a group."""

    conn: MemberSocket
    op_id: str
    field_name: str
    positions: dict[str, int] = field(default_factory=dict)

    def offer(self, payload: str, record: Any) -> bool:
        """Queue the frame; False when the connection is too slow (the outbox is full)."""
        if not self.conn.try_send_data(self.op_id, payload):
            return False
        key, value = position_of(self.field_name, record)
        self.positions[key] = value
        return True


class Group:
    """One feed for identical subscriptions; its task ends when the last member leaves."""

    def __init__(self, groups: Groups, key: tuple[Any, ...], op: Prepared) -> None:
        self.groups = groups
        self.key = key
        self.op = op
        self.members: dict[int, Member] = {}
        self._ids = itertools.count()
        self.task: asyncio.Task[None] | None = None

    def join(self, member: Member) -> Callable[[], asyncio.Task[None] | None]:
        """Add a member; returns how it leaves (the group's task, to await, if it was the last)."""
        ref = next(self._ids)
        self.members[ref] = member
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"subscription-group-{self.op.field}")
        return lambda: self.leave(ref)

    def leave(self, ref: int) -> asyncio.Task[None] | None:
        self.members.pop(ref, None)
        if self.members:
            return None
        self.groups.forget(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
            return self.task
        return None

    async def _deliver(self, record: Any, payload: str) -> bool:
        for ref, member in list(self.members.items()):
            if not member.offer(payload, record):
                # Too slow for the group: continue alone from where it was.
                self.members.pop(ref, None)
                member.conn.go_solo(member, self.op)
        return bool(self.members)

    def _each(self, act: Callable[[Member], None]) -> None:
        for member in list(self.members.values()):
            act(member)

    async def _run(self) -> None:
        def failed(errors: ErrorList) -> None:
            self._each(lambda m: m.conn.fail(m.op_id, errors))

        try:
            await run_stream(
                self.op,
                self.groups.container(),
                None,
                self._deliver,
                failed,
                lambda: self._each(lambda m: m.conn.finish(m.op_id)),
            )
        finally:
            self.groups.forget(self)


class Groups:
    """The shared groups of one server, by key."""

    def __init__(self, container: Callable[[], Any]) -> None:
        self.container = container
        self._by_key: dict[tuple[Any, ...], Group] = {}

    def join(
        self, key: tuple[Any, ...], op: Prepared, member: Member
    ) -> Callable[[], asyncio.Task[None] | None]:
        group = self._by_key.get(key)
        if group is None:
            group = self._by_key[key] = Group(self, key, op)
        return group.join(member)

    def forget(self, group: Group) -> None:
        if self._by_key.get(group.key) is group:
            del self._by_key[group.key]

    def __len__(self) -> int:
        return len(self._by_key)
