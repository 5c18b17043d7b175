"""The admins' audit log query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from conversation_service.domain.audit import audit_log as read_audit_log
from conversation_service.domain.commands import AuditQuery
from conversation_service.domain.identity import Role
from conversation_service.schema.audit_types import AuditEntryConnection


async def audit_log(
    info: strawberry.Info,
    first: Annotated[
        int | None, strawberry.argument(description="Page size, 0-100 (default 20).")
    ] = None,
    after: Annotated[
        str | None, strawberry.argument(description="The `endCursor` of the previous page.")
    ] = None,
    action: Annotated[
        str | None, strawberry.argument(description="Only this action (e.g. `message.add`).")
    ] = None,
    actor: Annotated[str | None, strawberry.argument(description="Only this actor.")] = None,
    from_date: Annotated[
        datetime | None, strawberry.argument(description="Only entries at or after this time.")
    ] = None,
    to_date: Annotated[
        datetime | None, strawberry.argument(description="Only entries at or before this time.")
    ] = None,
) -> AuditEntryConnection:
    ctx = info.context
    ctx.require(Role.ADMIN)
    q = AuditQuery(action, actor, from_date, to_date)
    page = await ctx.db.query(ctx.tenant_id, read_audit_log, q, first, after)
    return AuditEntryConnection.from_page(page)
