"""Settings read once from the environment, so every door (app, worker, tests) sees the same values.

`Settings` is a `pydantic-settings` model: each variable is declared once, as a field whose alias is
its environment variable and whose default is the only default. Code and tests build it by field
name (`Settings(database_url=...)`) and see only what they pass plus the defaults; `from_env` is
the one place that reads the environment. Values that come from the environment arrive as strings;
the validators below turn those strings into values (JSON maps, comma lists, flags) and leave
values passed in code as they are.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from limits import parse as parse_rate_limit
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./conversations.db"

#: Messages given as context per tenant tier (the platform's limits).
DEFAULT_TIER_LIMITS: dict[str, int] = {
    "free": 5,
    "advance": 15,
    "professional": 30,
    "enterprise": 50,
}
_REGCONFIG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TRUE = frozenset({"1", "true", "yes"})


def _check_regconfig(value: str) -> str:
    value = value.strip()
    if not _REGCONFIG_RE.match(value):
        raise ValueError("must be a text search configuration name")
    return value


def _check_rate_limit(value: str) -> str:
    """`limits`' string syntax: `100/second`, `1000 per minute`."""
    try:
        parse_rate_limit(value)
    except ValueError:
        raise ValueError("must be a rate limit such as '100/second'") from None
    return value


def _json(raw: str) -> Any:
    if raw.strip() == "":
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError("must be JSON") from exc


def _int_map(raw: str) -> dict[str, int]:
    value = _json(raw)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        raise ValueError("must be a JSON object of non-negative integers")
    return {str(k): int(v) for k, v in value.items()}


def _str_map(raw: str) -> dict[str, str]:
    value = _json(raw)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must be a JSON object of strings")
    return {str(k): v for k, v in value.items()}


class _MappingEnvSource(EnvSettingsSource):
    """The environment source of pydantic-settings over a given mapping instead of `os.environ`,
    so `Settings.from_env(env)` reads that mapping only (tests and subprocess set-ups pass one)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty)


class Settings(BaseSettings):
    """Everything configurable; see the configuration table in README.md (a test keeps the two
    equal: same variables, same defaults)."""

    model_config = SettingsConfigDict(
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        case_sensitive=True,
        env_ignore_empty=True,  # `PORT=` means the default, as an unset variable does
        extra="forbid",
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    #: from the environment, unset means `REDIS_URL` (see `from_env`)
    broadcast_url: str | None = Field(None, alias="BROADCAST_URL")
    nooble_env: str = Field("development", alias="NOOBLE_ENV")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT")
    db_pool_size: int = Field(10, alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(10, alias="DB_MAX_OVERFLOW")
    db_echo: bool = Field(False, alias="DB_ECHO")
    #: PostgreSQL: the role (no table of its own, no BYPASSRLS) every unit of work runs as, so
    #: row-level security applies; created and granted by `migrate`
    database_app_role: str = Field("conversation_app", alias="DATABASE_APP_ROLE")
    # Subscriptions
    ws_keepalive_s: float = Field(15.0, alias="WS_KEEPALIVE_S")
    max_subscriptions_per_connection: int = Field(100, alias="WS_MAX_SUBSCRIPTIONS")
    subscriber_buffer: int = Field(1000, alias="SUBSCRIBER_BUFFER")
    ws_max_buffer_bytes: int = Field(4_194_304, alias="WS_MAX_BUFFER_BYTES")
    ws_max_connections_per_tenant: int = Field(1000, alias="WS_MAX_CONNECTIONS_PER_TENANT")
    ws_max_subscriptions_per_tenant: int = Field(10_000, alias="WS_MAX_SUBSCRIPTIONS_PER_TENANT")
    ws_allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field((), alias="WS_ALLOWED_ORIGINS")
    # Worker
    worker_streams: Annotated[tuple[str, ...], NoDecode] = Field((), alias="WORKER_STREAMS")
    worker_concurrency: int = Field(16, alias="WORKER_CONCURRENCY")
    worker_batch_size: int = Field(64, alias="WORKER_BATCH_SIZE")
    worker_claim_idle_ms: int = Field(30_000, alias="WORKER_CLAIM_IDLE_MS")
    worker_max_attempts: int = Field(5, alias="WORKER_MAX_ATTEMPTS")
    worker_listen_service_stream: bool = Field(False, alias="WORKER_SERVICE_STREAM")
    # Context, search
    default_tier: str = Field("free", alias="DEFAULT_TIER")
    tenant_tiers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="TENANT_TIERS"
    )
    tier_limits: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_TIER_LIMITS), alias="CONTEXT_TIER_LIMITS"
    )
    model_context_windows: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, alias="MODEL_CONTEXT_WINDOWS"
    )
    #: 0 means unset (no token limit)
    default_context_tokens: int | None = Field(None, alias="DEFAULT_CONTEXT_TOKENS")
    search_language: str = Field("simple", alias="SEARCH_LANGUAGE")
    search_max_candidates: int = Field(1000, alias="SEARCH_MAX_CANDIDATES")
    # CRM (see the CRM section of README.md)
    crm_config_file: str | None = Field(None, alias="CRM_CONFIG_FILE")
    crm_sync_runner: bool = Field(True, alias="CRM_SYNC_RUNNER")
    crm_sync_poll_s: float = Field(1.0, alias="CRM_SYNC_POLL_S")
    crm_sync_batch: int = Field(16, alias="CRM_SYNC_BATCH")
    crm_sync_max_attempts: int = Field(8, alias="CRM_SYNC_MAX_ATTEMPTS")
    crm_sync_backoff_s: float = Field(2.0, alias="CRM_SYNC_BACKOFF_S")
    crm_sync_backoff_max_s: float = Field(300.0, alias="CRM_SYNC_BACKOFF_MAX_S")
    crm_sync_lease_s: float = Field(60.0, alias="CRM_SYNC_LEASE_S")
    # Data lifecycle (see "Data lifecycle" in README.md)
    retention_default_days: int = Field(365, ge=1, alias="RETENTION_DEFAULT_DAYS")
    retention_interval_s: float = Field(3600.0, ge=0, alias="RETENTION_INTERVAL_S")
    retention_batch: int = Field(500, ge=1, le=10_000, alias="RETENTION_BATCH")
    retention_pause_ms: int = Field(20, ge=0, alias="RETENTION_PAUSE_MS")
    retention_lease_s: float = Field(60.0, gt=0, alias="RETENTION_LEASE_S")
    worker_consumer_name: str | None = Field(None, alias="WORKER_CONSUMER_NAME")
    worker_block_ms: int = Field(1000, alias="WORKER_BLOCK_MS")
    worker_retry_base_ms: int = Field(200, alias="WORKER_RETRY_BASE_MS")
    worker_retry_max_ms: int = Field(5000, alias="WORKER_RETRY_MAX_MS")
    worker_order_poll_ms: int = Field(50, alias="WORKER_ORDER_POLL_MS")
    worker_reply_ttl_s: int = Field(600, alias="WORKER_REPLY_TTL_S")
    worker_shutdown_grace_s: float = Field(10.0, alias="WORKER_SHUTDOWN_GRACE_S")
    # Rate limits (see "Limits" in README.md)
    rate_limit: str = Field("100/second", alias="RATE_LIMIT")
    tenant_limits: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="TENANT_LIMITS"
    )
    # Observability
    metrics_token: str | None = Field(None, alias="METRICS_TOKEN")
    #: `worker` processes: serve /metrics on this port (on HOST); 0 = none
    worker_metrics_port: int = Field(0, alias="WORKER_METRICS_PORT")
    log_format: Literal["auto", "json", "console"] = Field("auto", alias="LOG_FORMAT")
    access_log: bool = Field(False, alias="ACCESS_LOG")
    otel_enabled: bool = Field(False, alias="OTEL_ENABLED")
    otel_service_name: str = Field("conversation-service", alias="OTEL_SERVICE_NAME")
    # TLS for clients of `serve` (also `serve --ssl-certfile/--ssl-keyfile`)
    ssl_certfile: str | None = Field(None, alias="SSL_CERTFILE")
    ssl_keyfile: str | None = Field(None, alias="SSL_KEYFILE")
    # HTTP transport and limits (see "HTTP limits and timeouts" in README.md)
    max_body_bytes: int = Field(2_097_152, alias="MAX_BODY_BYTES")
    http_body_timeout_s: float = Field(30.0, alias="HTTP_BODY_TIMEOUT_S")
    http_header_timeout_s: float = Field(10.0, alias="HTTP_HEADER_TIMEOUT_S")
    http_max_header_bytes: int = Field(65_536, alias="HTTP_MAX_HEADER_BYTES")
    http_keepalive_s: int = Field(5, alias="HTTP_KEEPALIVE_S")
    #: 0 means the file-descriptor limit minus a reserve (see web/server.py)
    http_max_connections: int = Field(0, alias="HTTP_MAX_CONNECTIONS")
    max_batch_size: int = Field(10, alias="MAX_BATCH_SIZE")
    apq_cache_size: int = Field(1000, alias="APQ_CACHE_SIZE")
    apq_ttl_s: int = Field(86_400, alias="APQ_TTL_S")
    apq_max_query_bytes: int = Field(65_536, alias="APQ_MAX_QUERY_BYTES")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field((), alias="CORS_ORIGINS")
    # Database timeouts (0: none, as migrations use)
    db_statement_timeout_ms: int = Field(5000, alias="DB_STATEMENT_TIMEOUT_MS")
    db_pool_timeout_s: float = Field(5.0, alias="DB_POOL_TIMEOUT_S")
    # GraphQL query limits (see "Query limits" in README.md)
    max_query_depth: int = Field(10, alias="MAX_QUERY_DEPTH")
    max_query_aliases: int = Field(30, alias="MAX_ALIASES")
    max_query_tokens: int = Field(2000, alias="MAX_QUERY_TOKENS")
    max_query_cost: int = Field(5000, alias="MAX_QUERY_COST")
    #: run every answer of the compiled read path through Strawberry too; fail on a difference
    fast_path_verify: bool = Field(False, alias="FAST_PATH_VERIFY")
    # Identity (see "Running in production" in README.md). AUTH_MODE's default depends on
    # DATABASE_URL: see `_auth_mode_default`.
    auth_mode: Literal["none", "required"] = Field("none", alias="AUTH_MODE")
    #: seconds a looked-up API key is trusted before it is read again (revocation delay)
    api_key_cache_ttl_s: float = Field(30.0, alias="API_KEY_CACHE_TTL_S")
    #: seconds between the batched writes of API keys' last-used times
    api_key_touch_interval_s: float = Field(60.0, alias="API_KEY_TOUCH_INTERVAL_S")
    jwt_secret: str | None = Field(None, alias="JWT_SECRET")
    jwt_jwks_file: str | None = Field(None, alias="JWT_JWKS_FILE")
    jwt_issuer: str | None = Field(None, alias="JWT_ISSUER")
    jwt_audience: str | None = Field(None, alias="JWT_AUDIENCE")
    jwt_tenant_claim: str = Field("tenant_id", alias="JWT_TENANT_CLAIM")
    jwt_leeway_s: float = Field(30.0, alias="JWT_LEEWAY_S")
    #: seconds between re-checks of an open WebSocket's credential (revoked or expired: closed)
    ws_auth_recheck_s: float = Field(30.0, alias="WS_AUTH_RECHECK_S")

    @model_validator(mode="before")
    @classmethod
    def _auth_mode_default(cls, values: object) -> object:
        """`AUTH_MODE` unset: `required` as soon as a database is named (environment or
        `Settings(database_url=...)`), `none` only for the embedded SQLite default, so that
        `make run` needs no set-up and no deployment is open by accident."""
        if not isinstance(values, dict):
            return values
        named = {"auth_mode", "AUTH_MODE"} & values.keys()
        if not named and ({"database_url", "DATABASE_URL"} & values.keys()):
            return {**values, "auth_mode": "required"}
        return values

    # Data lifecycle: rows fetched per round trip by exports and archives (server-side cursor)
    export_batch_rows: int = Field(500, alias="EXPORT_BATCH_ROWS", ge=1, le=100_000)

    # --- parsing of environment strings (values given in code pass through unchanged) ---

    @field_validator(
        "db_echo",
        "worker_listen_service_stream",
        "crm_sync_runner",
        "access_log",
        "otel_enabled",
        "fast_path_verify",
        mode="before",
    )
    @classmethod
    def _flag(cls, value: object) -> object:
        return value.lower() in _TRUE if isinstance(value, str) else value

    @field_validator("worker_streams", "cors_origins", "ws_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(x.strip() for x in value.split(",") if x.strip())
        return value

    @field_validator("tenant_tiers", mode="before")
    @classmethod
    def _tenant_tiers(cls, value: object) -> object:
        return _str_map(value) if isinstance(value, str) else value

    @field_validator("tenant_limits", mode="before")
    @classmethod
    def _tenant_limits(cls, value: object) -> object:
        return _str_map(value) if isinstance(value, str) else value

    @field_validator("database_app_role")
    @classmethod
    def _app_role(cls, value: str) -> str:
        # A plain lower-case identifier: it is quoted into SQL and must name one role exactly.
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError("DATABASE_APP_ROLE must be a lower-case SQL identifier")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        return _check_rate_limit(value)

    @field_validator("tenant_limits")
    @classmethod
    def _tenant_limit_values(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            _check_rate_limit(limit)
        return value

    @field_validator("tier_limits", mode="before")
    @classmethod
    def _tier_limits(cls, value: object) -> object:
        # From the environment the limits are merged over the platform's defaults.
        return {**DEFAULT_TIER_LIMITS, **_int_map(value)} if isinstance(value, str) else value

    @field_validator("model_context_windows", mode="before")
    @classmethod
    def _model_context_windows(cls, value: object) -> object:
        return _int_map(value) if isinstance(value, str) else value

    @field_validator("default_context_tokens")
    @classmethod
    def _zero_is_unset(cls, value: int | None) -> int | None:
        return value or None

    @field_validator("search_language")
    @classmethod
    def _search_language(cls, value: str) -> str:
        return _check_regconfig(value)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        return value.upper()

    # --- construction ---

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `Settings(...)` is what the caller passes plus the defaults, never the process
        # environment: tests build many settings side by side. `from_env` reads it.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (only that mapping) or, without one, from `os.environ`.

        A bad value raises `ValueError` naming the variable, e.g. `PORT: Input should be a
        valid integer... (got 'abc')`."""
        values = _MappingEnvSource(cls, os.environ if env is None else env)()
        if values.get("BROADCAST_URL") is None and values.get("REDIS_URL") is not None:
            values["BROADCAST_URL"] = values["REDIS_URL"]
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(_describe(exc)) from None

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` (field names), validated like the constructor."""
        return type(self)(**{**dict(self), **changes})

    @property
    def auth_required(self) -> bool:
        return self.auth_mode == "required"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message} (got {error['input']!r})")
    return "invalid configuration: " + "; ".join(lines)


def search_language(env: Mapping[str, str] | None = None) -> str:
    """The PostgreSQL text-search configuration (`SEARCH_LANGUAGE`), checked to be a plain name.

    Read alone (not through `Settings.from_env`) by the migration that builds `search_vector`, so
    an unrelated bad variable does not stop a migration."""
    e = os.environ if env is None else env
    value = e.get("SEARCH_LANGUAGE") or Settings.model_fields["search_language"].default
    try:
        return _check_regconfig(value)
    except ValueError as exc:
        raise ValueError(f"SEARCH_LANGUAGE {exc}, got {value!r}") from None
