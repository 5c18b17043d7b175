"""Settings read once from the environment, so every door (app, worker, tests) sees the same values."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./conversations.db"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _json(env: dict[str, str], name: str) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be JSON, got {raw!r}") from exc


def _int_map(env: dict[str, str], name: str) -> dict[str, int]:
    value = _json(env, name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        raise ValueError(f"{name} must be a JSON object of non-negative integers")
    return {str(k): int(v) for k, v in value.items()}


def _str_map(env: dict[str, str], name: str) -> dict[str, str]:
    value = _json(env, name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{name} must be a JSON object of strings")
    return {str(k): v for k, v in value.items()}


#: Messages given as context per tenant tier (the platform's limits).
DEFAULT_TIER_LIMITS: dict[str, int] = {
    "free": 5,
    "advance": 15,
    "professional": 30,
    "enterprise": 50,
}
_REGCONFIG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def search_language(env: dict[str, str] | None = None) -> str:
    """The PostgreSQL text-search configuration (`SEARCH_LANGUAGE`), checked to be a plain name."""
    e = os.environ if env is None else env
    value = (e.get("SEARCH_LANGUAGE") or "simple").strip()
    if not _REGCONFIG_RE.match(value):
        raise ValueError(f"SEARCH_LANGUAGE must be a text search configuration name, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything configurable; see the configuration table in README.md."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    broadcast_url: str | None = None
    nooble_env: str = "dev"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_echo: bool = False
    # Subscriptions
    ws_keepalive_s: float = 15.0
    max_subscriptions_per_connection: int = 100
    subscriber_buffer: int = 1000
    # Worker
    worker_streams: tuple[str, ...] = field(default_factory=tuple)
    worker_concurrency: int = 16
    worker_batch_size: int = 64
    worker_claim_idle_ms: int = 30_000
    worker_max_attempts: int = 5
    worker_listen_service_stream: bool = False
    # Context, search
    default_tier: str = "free"
    tenant_tiers: dict[str, str] = field(default_factory=dict)
    tier_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TIER_LIMITS))
    model_context_windows: dict[str, int] = field(default_factory=dict)
    default_context_tokens: int | None = None
    search_language: str = "simple"
    search_max_candidates: int = 1000
    # CRM (see the CRM section of README.md)
    crm_config_file: str | None = None
    crm_sync_runner: bool = True
    crm_sync_poll_s: float = 1.0
    crm_sync_batch: int = 16
    crm_sync_max_attempts: int = 8
    crm_sync_backoff_s: float = 2.0
    crm_sync_backoff_max_s: float = 300.0
    crm_sync_lease_s: float = 60.0
    worker_consumer_name: str | None = None
    worker_block_ms: int = 1000
    worker_retry_base_ms: int = 200
    worker_retry_max_ms: int = 5000
    worker_order_poll_ms: int = 50
    worker_reply_ttl_s: int = 600
    worker_shutdown_grace_s: float = 10.0
    # GraphQL query limits (see "Limits" in README.md)
    max_query_depth: int = 10  # MAX_QUERY_DEPTH
    max_query_aliases: int = 30  # MAX_ALIASES
    max_query_tokens: int = 2000  # MAX_QUERY_TOKENS
    max_query_cost: int = 5000  # MAX_QUERY_COST
    # FAST_PATH_VERIFY: run every fast-path answer through Strawberry too and fail on a difference
    fast_path_verify: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        redis_url = e.get("REDIS_URL") or None
        return cls(
            database_url=e.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=redis_url,
            broadcast_url=e.get("BROADCAST_URL") or redis_url,
            nooble_env=e.get("NOOBLE_ENV") or "dev",
            log_level=(e.get("LOG_LEVEL") or "INFO").upper(),
            host=e.get("HOST") or "127.0.0.1",
            port=_int(e, "PORT", 8000),
            db_pool_size=_int(e, "DB_POOL_SIZE", 10),
            db_max_overflow=_int(e, "DB_MAX_OVERFLOW", 10),
            db_echo=(e.get("DB_ECHO") or "").lower() in {"1", "true", "yes"},
            ws_keepalive_s=_float(e, "WS_KEEPALIVE_S", 15.0),
            max_subscriptions_per_connection=_int(e, "WS_MAX_SUBSCRIPTIONS", 100),
            subscriber_buffer=_int(e, "SUBSCRIBER_BUFFER", 1000),
            worker_concurrency=_int(e, "WORKER_CONCURRENCY", 16),
            worker_batch_size=_int(e, "WORKER_BATCH_SIZE", 64),
            worker_claim_idle_ms=_int(e, "WORKER_CLAIM_IDLE_MS", 30_000),
            worker_max_attempts=_int(e, "WORKER_MAX_ATTEMPTS", 5),
            worker_listen_service_stream=(e.get("WORKER_SERVICE_STREAM") or "").lower()
            in {"1", "true", "yes"},
            default_tier=e.get("DEFAULT_TIER") or "free",
            tenant_tiers=_str_map(e, "TENANT_TIERS"),
            tier_limits={**DEFAULT_TIER_LIMITS, **_int_map(e, "CONTEXT_TIER_LIMITS")},
            model_context_windows=_int_map(e, "MODEL_CONTEXT_WINDOWS"),
            default_context_tokens=_int(e, "DEFAULT_CONTEXT_TOKENS", 0) or None,
            search_language=search_language(e),
            search_max_candidates=_int(e, "SEARCH_MAX_CANDIDATES", 1000),
            crm_config_file=e.get("CRM_CONFIG_FILE") or None,
            crm_sync_runner=(e.get("CRM_SYNC_RUNNER") or "true").lower() in {"1", "true", "yes"},
            crm_sync_poll_s=_float(e, "CRM_SYNC_POLL_S", 1.0),
            crm_sync_batch=_int(e, "CRM_SYNC_BATCH", 16),
            crm_sync_max_attempts=_int(e, "CRM_SYNC_MAX_ATTEMPTS", 8),
            crm_sync_backoff_s=_float(e, "CRM_SYNC_BACKOFF_S", 2.0),
            crm_sync_backoff_max_s=_float(e, "CRM_SYNC_BACKOFF_MAX_S", 300.0),
            crm_sync_lease_s=_float(e, "CRM_SYNC_LEASE_S", 60.0),
            worker_streams=tuple(
                x.strip() for x in (e.get("WORKER_STREAMS") or "").split(",") if x.strip()
            ),
            worker_consumer_name=e.get("WORKER_CONSUMER_NAME") or None,
            worker_block_ms=_int(e, "WORKER_BLOCK_MS", 1000),
            worker_retry_base_ms=_int(e, "WORKER_RETRY_BASE_MS", 200),
            worker_retry_max_ms=_int(e, "WORKER_RETRY_MAX_MS", 5000),
            worker_order_poll_ms=_int(e, "WORKER_ORDER_POLL_MS", 50),
            worker_reply_ttl_s=_int(e, "WORKER_REPLY_TTL_S", 600),
            worker_shutdown_grace_s=_float(e, "WORKER_SHUTDOWN_GRACE_S", 10.0),
            max_query_depth=_int(e, "MAX_QUERY_DEPTH", 10),
            max_query_aliases=_int(e, "MAX_ALIASES", 30),
            max_query_tokens=_int(e, "MAX_QUERY_TOKENS", 2000),
            max_query_cost=_int(e, "MAX_QUERY_COST", 5000),
            fast_path_verify=(e.get("FAST_PATH_VERIFY") or "").lower() in {"1", "true", "yes"},
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
