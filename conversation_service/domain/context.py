"""An agent's context: the newest messages that fit a token and message budget, in one call.

Rules (the API contract, "Agents' context"):
* system messages are pinned when `include_system` (oldest first): they count in the token
  budget but not in `max_messages`;
* then the longest contiguous run of the newest non-system messages that fits both limits: a
  message is never skipped to fit an older one;
* an assistant message with `tool_calls` and the TOOL messages right after it (its answers) go in
  whole or not at all;
* the unit that ends the walk because it alone exceeds the token budget is reported in
  `oversized_message_ids` (the newest one, when nothing fits);
* `truncated` / `omitted_messages`: older non-system messages left out;
* the walk ends at a tombstone (an erased message: retention erases the oldest first, and what
  came before an erased message is no context to build on); erased system messages are not
  pinned.

Token counts are stored at write time, so nothing is counted here. The history is read newest
first in seq pages (seq is gapless: each page is an exact index range), stopping as soon as the
budget is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversation_service.domain import tokens
from conversation_service.domain import validation as v
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.domain.policies import (
    MAX_CONTEXT_MESSAGES,
    MAX_CONTEXT_TOKENS,
    MODEL_CONTEXT_WINDOWS,
    ContextPolicy,
)
from conversation_service.domain.ports import UnitOfWork
from conversation_service.domain.records import MessageRecord

__all__ = ["MODEL_CONTEXT_WINDOWS", "ContextPolicy", "ConversationContextResult", "build_context"]


@dataclass(slots=True)
class ConversationContextResult:
    conversation_id: str
    messages: list[MessageRecord]  # oldest first
    total_tokens: int
    truncated: bool
    omitted_messages: int
    oversized_message_ids: list[str]


def _tokens(m: MessageRecord) -> int:
    # Never null once stored; counted here only for rows written before the service counted.
    return m.token_count if m.token_count is not None else tokens.count(m.content)


def _starts_tool_unit(m: MessageRecord) -> bool:
    return m.role == MessageRole.ASSISTANT and bool(m.tool_calls)


async def build_context(
    uow: UnitOfWork,
    conversation_id: str,
    *,
    max_tokens: int | None = None,
    max_messages: int | None = None,
    model: str | None = None,
    include_system: bool = True,
    tier: str | None = None,
) -> ConversationContextResult:
    """The context an agent sends to its model; see the module docstring for the rules.

    Defaults: `max_messages` from the tenant's tier (`tier`, else `TENANT_TIERS` /
    `DEFAULT_TIER`), `max_tokens` from `model`'s context window (no token limit without either).
    """
    conversation_id = v.uuid_id(conversation_id, "conversation_id")
    v.positive(max_tokens, "max_tokens", MAX_CONTEXT_TOKENS)
    if max_messages is not None and (
        isinstance(max_messages, bool) or not 0 <= max_messages <= MAX_CONTEXT_MESSAGES
    ):
        raise ValidationFailed(
            f"max_messages must be between 0 and {MAX_CONTEXT_MESSAGES}", field="max_messages"
        )
    if model is not None:
        v.identifier(model, "model")
    p = uow.context_policy
    limit = max_messages if max_messages is not None else p.message_limit(uow.tenant_id, tier)
    budget = max_tokens
    if budget is None and model is not None:
        budget = p.model_window(model)

    last_seq = await uow.conversations.last_seq(conversation_id)
    if last_seq is None:
        raise NotFound(f"conversation {conversation_id} not found")
    # Pinned system messages (partial index on role = 'system').
    system = await uow.messages.system(conversation_id)
    oversized: list[str] = []
    pinned: list[MessageRecord] = []
    used = 0
    if include_system:
        for s in system:
            if s.erased:
                continue
            n = _tokens(s)
            if budget is not None and used + n > budget:
                oversized.append(s.id)
                continue
            pinned.append(s)
            used += n
    non_system_total = last_seq - len(system)

    pinned_tokens = used
    run: list[MessageRecord] = []  # newest first
    pending: list[MessageRecord] = []  # TOOL messages waiting for their assistant call
    count = 0
    done = False

    def take(unit: list[MessageRecord]) -> bool:
        """Add a unit (newest first) if it fits both limits; False ends the walk."""
        nonlocal used, count
        n = sum(_tokens(m) for m in unit)
        if count + len(unit) > limit or (budget is not None and used + n > budget):
            if budget is not None and n > budget - pinned_tokens:
                oversized.extend(m.id for m in reversed(unit))
            return False
        run.extend(unit)
        used += n
        count += len(unit)
        return True

    hi = last_seq
    page = max(limit + 8, 16)
    erased = False
    while hi >= 1 and not done and not erased and count < limit:
        lo = max(1, hi - page + 1)
        rows = await uow.messages.range_newest_first(conversation_id, lo, hi)
        for m in rows:
            if m.role == MessageRole.SYSTEM:
                continue
            if m.erased:
                erased = True
                break
            if m.role == MessageRole.TOOL:
                pending.append(m)
                continue
            if pending and _starts_tool_unit(m):
                unit, pending = [*pending, m], []
                done = not take(unit)
            else:
                while pending and not done:  # answers with no call before them: singles
                    done = not take([pending.pop(0)])
                done = done or not take([m])
            if done:
                break
        hi = lo - 1
        page *= 2
    while pending and not done:
        done = not take([pending.pop(0)])

    included = sorted([*pinned, *run], key=lambda m: m.seq)
    omitted = non_system_total - len(run)
    return ConversationContextResult(
        conversation_id=conversation_id,
        messages=included,
        total_tokens=used,
        truncated=omitted > 0,
        omitted_messages=omitted,
        oversized_message_ids=oversized,
    )
