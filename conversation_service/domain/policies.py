"""Defaults of `conversationContext` for callers that give no limits: the tenant's tier and the
model's context window (built once from the settings at start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conversation_service.config import Settings
from conversation_service.domain.errors import ValidationFailed

MAX_CONTEXT_MESSAGES = 1000
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
