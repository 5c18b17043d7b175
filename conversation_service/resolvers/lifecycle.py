"""Data lifecycle resolvers (admin): retention policy, erasure and its receipts."""

from __future__ import annotations

from typing import Annotated

import strawberry

from conversation_service.domain.erasure import erase_subject as erase
from conversation_service.domain.erasure import get_erasure_receipt
from conversation_service.domain.identity import Role
from conversation_service.domain.retention import get_retention_policy, set_retention_policy
from conversation_service.resolvers.context import GraphQLContext
from conversation_service.schema.lifecycle_types import (
    EraseSubjectInput,
    ErasureReceipt,
    RetentionPolicy,
    SetRetentionPolicyInput,
)


async def retention_policy(info: strawberry.Info) -> RetentionPolicy:
    ctx: GraphQLContext = info.context
    ctx.require(Role.ADMIN)
    return RetentionPolicy.from_policy(await ctx.db.query(ctx.tenant_id, get_retention_policy))


async def set_retention_policy_(
    info: strawberry.Info,
    input: Annotated[
        SetRetentionPolicyInput, strawberry.argument(description="The periods to change.")
    ],
) -> RetentionPolicy:
    ctx: GraphQLContext = info.context
    principal = ctx.require(Role.ADMIN)
    async with ctx.db(ctx.tenant_id, actor=principal.actor) as uow:
        policy = await set_retention_policy(uow, input.to_command())
        await uow.commit()
    return RetentionPolicy.from_policy(policy)


async def erase_subject(
    info: strawberry.Info,
    input: Annotated[EraseSubjectInput, strawberry.argument(description="Whose data to erase.")],
) -> ErasureReceipt:
    ctx: GraphQLContext = info.context
    principal = ctx.require(Role.ADMIN)
    async with ctx.db(ctx.tenant_id, actor=principal.actor) as uow:
        receipt = await erase(uow, input.to_command())
        await uow.commit()
    return ErasureReceipt.from_record(receipt)


async def erasure_receipt(
    info: strawberry.Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The receipt's id.")],
) -> ErasureReceipt | None:
    ctx: GraphQLContext = info.context
    ctx.require(Role.ADMIN)
    found = await ctx.db.query(ctx.tenant_id, get_erasure_receipt, id)
    return ErasureReceipt.from_record(found) if found is not None else None
