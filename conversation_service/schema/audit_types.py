"""GraphQL types of the audit log (`auditLog`, admins only)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from conversation_service.domain.audit import AuditPage, audit_cursor
from conversation_service.domain.records import AuditRecord
from conversation_service.schema.types import PageInfo


@strawberry.type(description="One write (or admin action): who did what to which row, and when.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    at: datetime = strawberry.field(description="When the change was made (UTC).")
    tenant_id: str = strawberry.field(description="The tenant whose data changed.")
    actor: str = strawberry.field(
        description="Who acted: an API key id, a JWT subject, `worker:<origin service>`, or "
        "`anonymous` (no credential, `AUTH_MODE=none`)."
    )
    action: str = strawberry.field(
        description="What was done: `conversation.create`, `conversation.update`, "
        "`message.add`, `state.set`, `state.delete`, `crm.sync`, ..."
    )
    target_id: str | None = strawberry.field(
        description="The row changed: a conversation or message id; for state entries "
        "`<conversation id>/<key>`."
    )
    request_id: str | None = strawberry.field(
        description="The HTTP request's `X-Request-ID` (or the worker action's `action_id`)."
    )

    @classmethod
    def from_record(cls, r: AuditRecord) -> AuditEntry:
        return cls(
            id=strawberry.ID(r.id), at=r.at, tenant_id=r.tenant_id, actor=r.actor,
            action=r.action, target_id=r.target_id, request_id=r.request_id,
        )  # fmt: skip


@strawberry.type(description="An audit entry and its cursor.")
class AuditEntryEdge:
    cursor: str = strawberry.field(description="Pass as `after` to read the entries after it.")
    node: AuditEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of audit entries, newest first.")
class AuditEntryConnection:
    edges: list[AuditEntryEdge] = strawberry.field(description="The entries with their cursors.")
    nodes: list[AuditEntry] = strawberry.field(description="The entries.")
    page_info: PageInfo = strawberry.field(description="Where this page is.")

    @classmethod
    def from_page(cls, page: AuditPage) -> AuditEntryConnection:
        nodes = [AuditEntry.from_record(r) for r in page.items]
        edges = [
            AuditEntryEdge(cursor=audit_cursor(r), node=n)
            for r, n in zip(page.items, nodes, strict=True)
        ]
        return cls(
            edges=edges,
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
