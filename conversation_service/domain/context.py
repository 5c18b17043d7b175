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
* `truncated` / `omitted_messages`: older non-system messages left out.

Token counts are stored at write time, so nothing is counted here. The history is read newest
first in seq pages (seq is gapless: each page is an exact index range), stopping as soon as the
budget is full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, literal_column, select

from conversation_service.adapters.database import Database
from conversation_service.config import Settings
from conversation_service.domain import tokens
from conversation_service.domain import validation as v
from conversation_service.domain.enums import MessageRole
from conversation_service.domain.errors import NotFound, ValidationFailed
from conversation_service.domain.records import MessageRecord
from conversation_service.models import conversations, messages

C = conversations.c
M = messages.c

MAX_CONTEXT_MESSAGES = 1000
#: Inlined (not a bind parameter): a generic plan with `role = $3` cannot use the partial index
#: and scanned the whole conversation (10,000 rows for one system message).
_SYSTEM: ColumnElement[str] = literal_column(f"'{MessageRole.SYSTEM.value}'")
MAX_CONTEXT_TOKENS = 10_000_000

#: Context windows (tokens) of common models; the longest matching prefix wins, so dated
#: variants ("gpt-4o-2024-08-06") find their family. `MODEL_CONTEXT_WINDOWS` adds or overrides.
MODEL_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "claude-3": 200_000,
    "claude-3-5": 200_000,
    "claude-sonnet-4": 200_000,
    "llama3-8b-8192": 8_192,
    "llama3-70b-8192": 8_192,
    "llama-3.1-8b-instant": 131_072,
    "llama-3.3-70b-versatile": 131_072,
    "mixtral-8x7b-32768": 32_768,
    "gemma2-9b-it": 8_192,
}


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """Defaults for callers that give no limits: per-tenant tier and per-model window."""

    tier_limits: dict[str, int]
    tenant_tiers: dict[str, str] = field(default_factory=dict)
    default_tier: str = "free"
    model_windows: dict[str, int] = field(default_factory=lambda: dict(MODEL_CONTEXT_WINDOWS))
    default_tokens: int | None = None  # unknown model: this window (None: no token limit)

    @classmethod
    def from_settings(cls, s: Settings) -> ContextPolicy:
        """Fails at start-up on a tier name that has no limit (a typo in DEFAULT_TIER or
        TENANT_TIERS must not surface later as every caller's validation error)."""
        unknown = {s.default_tier, *s.tenant_tiers.values()} - set(s.tier_limits)
        if unknown:
            raise ValueError(
                f"tier(s) {sorted(unknown)} have no limit in CONTEXT_TIER_LIMITS "
                f"(known: {sorted(s.tier_limits)})"
            )
        return cls(
            tier_limits=dict(s.tier_limits),
            tenant_tiers=dict(s.tenant_tiers),
            default_tier=s.default_tier,
            model_windows={**MODEL_CONTEXT_WINDOWS, **s.model_context_windows},
            default_tokens=s.default_context_tokens,
        )

    def tier_of(self, tenant_id: str) -> str:
        return self.tenant_tiers.get(tenant_id, self.default_tier)

    def message_limit(self, tenant_id: str, tier: str | None = None) -> int:
        name = tier or self.tier_of(tenant_id)
        if name not in self.tier_limits:
            raise ValidationFailed(f"unknown tier {name!r}", field="tier")
        return self.tier_limits[name]

    def model_window(self, model: str) -> int | None:
        name = model.strip().lower()
        best: str | None = None
        for prefix in self.model_windows:
            if name.startswith(prefix.lower()) and (best is None or len(prefix) > len(best)):
                best = prefix
        return self.model_windows[best] if best is not None else self.default_tokens


_policy: ContextPolicy | None = None


def configure(settings: Settings) -> None:
    """Set the defaults from the process settings (bootstrap calls this)."""
    global _policy
    _policy = ContextPolicy.from_settings(settings)


def policy() -> ContextPolicy:
    global _policy
    if _policy is None:
        _policy = ContextPolicy.from_settings(Settings.from_env())
    return _policy


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
    db: Database,
    tenant_id: str,
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
    p = policy()
    limit = max_messages if max_messages is not None else p.message_limit(tenant_id, tier)
    budget = max_tokens
    if budget is None and model is not None:
        budget = p.model_window(model)

    async with db.read() as conn:
        last_seq = await conn.scalar(
            select(C.last_seq).where(C.tenant_id == tenant_id, C.id == conversation_id)
        )
        if last_seq is None:
            raise NotFound(f"conversation {conversation_id} not found")
        # Pinned system messages, by the partial index on role = 'system': the role is a
        # constant in the SQL text, so even a generic plan of the cached statement can use it.
        system_rows = (
            await conn.execute(
                select(messages)
                .where(
                    M.tenant_id == tenant_id,
                    M.conversation_id == conversation_id,
                    M.role == _SYSTEM,
                )
                .order_by(M.seq)
            )
        ).all()
        system = [MessageRecord.from_row(r) for r in system_rows]
        oversized: list[str] = []
        pinned: list[MessageRecord] = []
        used = 0
        if include_system:
            for s in system:
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
        while hi >= 1 and not done and count < limit:
            lo = max(1, hi - page + 1)
            rows = (
                await conn.execute(
                    select(messages)
                    .where(
                        M.tenant_id == tenant_id,
                        M.conversation_id == conversation_id,
                        M.seq.between(lo, hi),
                    )
                    .order_by(M.seq.desc())
                )
            ).all()
            for row in rows:
                m = MessageRecord.from_row(row)
                if m.role == MessageRole.SYSTEM:
                    continue
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
