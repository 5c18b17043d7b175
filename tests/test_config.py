"""`Settings`: construction in code, `from_env` parsing rules, and clear errors on bad values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conversation_service.config import DEFAULT_TIER_LIMITS, Settings, search_language


def test_code_construction_uses_field_names_and_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("NOOBLE_ENV", "from-process")
    s = Settings(database_url="postgresql+asyncpg://h/db", subscriber_buffer=16)
    assert s.database_url == "postgresql+asyncpg://h/db"
    assert s.subscriber_buffer == 16
    assert s.port == 8000
    assert s.nooble_env == "development"
    with pytest.raises(ValidationError):
        Settings(databse_url="x")  # type: ignore[call-arg]


def test_from_env_reads_only_the_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    assert Settings.from_env({}).port == 8000
    assert Settings.from_env({"PORT": "9"}).port == 9
    assert Settings.from_env().port == 1234  # no mapping: the process environment


def test_from_env_of_nothing_is_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_nooble_env_defaults_to_the_platforms_development() -> None:
    assert Settings().nooble_env == "development"
    assert Settings.from_env({}).nooble_env == "development"
    assert Settings.from_env({"NOOBLE_ENV": "prod"}).nooble_env == "prod"


def test_empty_values_mean_the_default() -> None:
    s = Settings.from_env(
        {"PORT": "", "HOST": "", "DATABASE_URL": "", "CRM_SYNC_RUNNER": "", "TENANT_TIERS": ""}
    )
    assert (s.port, s.host, s.database_url) == (8000, "127.0.0.1", Settings().database_url)
    assert s.crm_sync_runner is True
    assert s.tenant_tiers == {}


def test_numbers() -> None:
    s = Settings.from_env({"PORT": "9001", "WS_KEEPALIVE_S": "0.5", "WS_MAX_SUBSCRIPTIONS": "3"})
    assert (s.port, s.ws_keepalive_s, s.max_subscriptions_per_connection) == (9001, 0.5, 3)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PORT", "eighty"),
        ("WORKER_CLAIM_IDLE_MS", "1.5"),
        ("WS_KEEPALIVE_S", "soon"),
        ("TENANT_TIERS", "{not json"),
        ("TENANT_TIERS", '{"t": 1}'),
        ("CONTEXT_TIER_LIMITS", '{"free": -1}'),
        ("CONTEXT_TIER_LIMITS", '{"free": true}'),
        ("MODEL_CONTEXT_WINDOWS", "[1, 2]"),
        ("DEFAULT_CONTEXT_TOKENS", "lots"),
        ("SEARCH_LANGUAGE", "english; drop table x"),
    ],
)
def test_a_bad_value_is_a_value_error_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name) as info:
        Settings.from_env({name: raw})
    assert repr(raw) in str(info.value)


def test_flags_are_1_true_yes_in_any_case() -> None:
    for raw in ("1", "true", "TRUE", "yes", "Yes"):
        assert Settings.from_env({"DB_ECHO": raw}).db_echo is True
        assert Settings.from_env({"WORKER_SERVICE_STREAM": raw}).worker_listen_service_stream
    for raw in ("0", "false", "no", "off", "anything"):
        assert Settings.from_env({"DB_ECHO": raw}).db_echo is False
        assert Settings.from_env({"CRM_SYNC_RUNNER": raw}).crm_sync_runner is False
    assert Settings.from_env({}).crm_sync_runner is True
    assert Settings.from_env({}).db_echo is False


def test_worker_streams_are_comma_separated() -> None:
    s = Settings.from_env({"WORKER_STREAMS": " a:main , b:main,, "})
    assert s.worker_streams == ("a:main", "b:main")
    assert Settings.from_env({"WORKER_STREAMS": " , "}).worker_streams == ()
    assert Settings(worker_streams=("x",)).worker_streams == ("x",)


def test_json_maps() -> None:
    s = Settings.from_env(
        {
            "TENANT_TIERS": '{"acme": "enterprise"}',
            "MODEL_CONTEXT_WINDOWS": '{"gpt-x": 1000}',
        }
    )
    assert s.tenant_tiers == {"acme": "enterprise"}
    assert s.model_context_windows == {"gpt-x": 1000}
    assert Settings.from_env({"TENANT_TIERS": "  "}).tenant_tiers == {}


def test_tier_limits_from_the_environment_merge_over_the_defaults() -> None:
    s = Settings.from_env({"CONTEXT_TIER_LIMITS": '{"free": 7, "gold": 99}'})
    assert s.tier_limits == {**DEFAULT_TIER_LIMITS, "free": 7, "gold": 99}
    assert Settings().tier_limits == DEFAULT_TIER_LIMITS
    assert Settings().tier_limits is not DEFAULT_TIER_LIMITS  # each instance its own dict


def test_default_context_tokens_zero_means_unset() -> None:
    assert Settings.from_env({"DEFAULT_CONTEXT_TOKENS": "0"}).default_context_tokens is None
    assert Settings.from_env({"DEFAULT_CONTEXT_TOKENS": "4096"}).default_context_tokens == 4096
    assert Settings.from_env({}).default_context_tokens is None


def test_broadcast_url_defaults_to_redis_url_in_the_environment() -> None:
    assert Settings.from_env({"REDIS_URL": "redis://a"}).broadcast_url == "redis://a"
    s = Settings.from_env({"REDIS_URL": "redis://a", "BROADCAST_URL": "redis://b"})
    assert (s.redis_url, s.broadcast_url) == ("redis://a", "redis://b")
    assert Settings.from_env({"REDIS_URL": "redis://a", "BROADCAST_URL": ""}).broadcast_url == (
        "redis://a"
    )
    assert Settings.from_env({}).broadcast_url is None
    # In code each field is what is passed: tests give a broadcast without a worker Redis.
    assert Settings(redis_url="redis://a").broadcast_url is None


def test_log_level_is_upper_cased() -> None:
    assert Settings.from_env({"LOG_LEVEL": "warning"}).log_level == "WARNING"
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_search_language_is_checked() -> None:
    assert Settings.from_env({"SEARCH_LANGUAGE": " english "}).search_language == "english"
    with pytest.raises(ValueError, match="search_language"):
        Settings(search_language="x'y")
    assert search_language({}) == "simple"
    assert search_language({"SEARCH_LANGUAGE": "spanish"}) == "spanish"
    with pytest.raises(ValueError, match="SEARCH_LANGUAGE must be"):
        search_language({"SEARCH_LANGUAGE": "a b"})


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]


def test_with_returns_a_validated_copy() -> None:
    base = Settings(database_url="sqlite+aiosqlite:///x.db", port=1)
    changed = base.with_(port=2, log_level="warning")
    assert (changed.port, changed.log_level, changed.database_url) == (
        2,
        "WARNING",
        "sqlite+aiosqlite:///x.db",
    )
    assert base.port == 1
    with pytest.raises(ValidationError):
        base.with_(no_such_setting=1)
    with pytest.raises(ValidationError):
        base.with_(port="not a port")


def test_is_sqlite() -> None:
    assert Settings().is_sqlite
    assert not Settings(database_url="postgresql+asyncpg://h/db").is_sqlite


def test_auth_is_required_as_soon_as_a_database_is_named() -> None:
    """The embedded default stays zero-config; any named database (a deployment) is closed."""
    assert Settings().auth_mode == "none"
    assert Settings.from_env({}).auth_mode == "none"
    assert Settings(database_url="postgresql+asyncpg://h/db").auth_mode == "required"
    assert Settings(database_url="sqlite+aiosqlite:///x.db").auth_mode == "required"
    assert Settings.from_env({"DATABASE_URL": "postgresql://h/db"}).auth_mode == "required"
    explicit = Settings.from_env({"DATABASE_URL": "postgresql://h/db", "AUTH_MODE": "none"})
    assert explicit.auth_mode == "none"
    assert Settings(database_url="sqlite+aiosqlite:///x.db", auth_mode="none").auth_mode == "none"
    # a copy keeps the mode it was made with
    assert Settings(database_url="postgresql+asyncpg://h/db").with_(port=1).auth_required
    with pytest.raises(ValueError, match="AUTH_MODE"):
        Settings.from_env({"AUTH_MODE": "maybe"})
