"""Per-tenant CRM configuration: `CRM_CONFIG_FILE` (JSON, or YAML) maps tenant ids to a connector;
the key `"*"` applies to tenants without an entry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

CONNECTORS = ("http", "hubspot")
WILDCARD = "*"
HUBSPOT_DEFAULT_URL = "https://api.hubapi.com"


class Secret:
    """A string that never shows itself: repr/str/format print `***`; `.reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class CrmConfigError(ValueError):
    """The CRM configuration file is invalid (raised at startup, never at request time)."""


@dataclass(frozen=True)
class CrmConfig:
    connector: str
    base_url: str
    token: Secret = field(repr=False)
    field_map: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    enrich_timeout_s: float = 2.0
    cache_ttl_s: float = 300.0
    auto_sync_on_complete: bool = False
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    #: the configuration key this came from (a tenant id or "*"), to share one client per entry
    key: str = WILDCARD

    @property
    def fingerprint(self) -> str:
        """Identifies the CRM (not the token) so cached customers follow a change of CRM."""
        raw = f"{self.connector}|{self.base_url}|{sorted(self.field_map.items())}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    @property
    def reverse_field_map(self) -> dict[str, str]:
        return {theirs: ours for ours, theirs in self.field_map.items()}

    @classmethod
    def parse(cls, key: str, raw: Any) -> CrmConfig:
        where = f"CRM configuration for {key!r}"
        if not isinstance(raw, dict):
            raise CrmConfigError(f"{where} must be an object")
        connector = raw.get("connector")
        if connector not in CONNECTORS:
            raise CrmConfigError(f"{where}: connector must be one of {', '.join(CONNECTORS)}")
        base_url = raw.get("base_url") or (HUBSPOT_DEFAULT_URL if connector == "hubspot" else None)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise CrmConfigError(f"{where}: base_url must be an http(s) URL")
        token = raw.get("token")
        if not isinstance(token, str) or not token:
            raise CrmConfigError(f"{where}: token must be a non-empty string")
        field_map = raw.get("field_map") or {}
        if not isinstance(field_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in field_map.items()
        ):
            raise CrmConfigError(f"{where}: field_map must map strings to strings")

        def number(name: str, default: float) -> float:
            value = raw.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise CrmConfigError(f"{where}: {name} must be a positive number")
            return float(value)

        auto = raw.get("auto_sync_on_complete", False)
        if not isinstance(auto, bool):
            raise CrmConfigError(f"{where}: auto_sync_on_complete must be true or false")
        return cls(
            connector=connector,
            base_url=base_url.rstrip("/"),
            token=Secret(token),
            field_map=dict(field_map),
            timeout_s=number("timeout_s", 5.0),
            enrich_timeout_s=number("enrich_timeout_s", min(2.0, number("timeout_s", 5.0))),
            cache_ttl_s=number("cache_ttl_s", 300.0),
            auto_sync_on_complete=auto,
            breaker_failures=int(number("breaker_failures", 5)),
            breaker_reset_s=number("breaker_reset_s", 30.0),
            key=key,
        )


@dataclass
class CrmDirectory:
    """Tenant id -> configuration. A tenant with no entry and no `"*"` has no CRM."""

    entries: dict[str, CrmConfig] = field(default_factory=dict)

    def for_tenant(self, tenant_id: str) -> CrmConfig | None:
        return self.entries.get(tenant_id) or self.entries.get(WILDCARD)

    def set(self, tenant_id: str, config: CrmConfig | None) -> None:
        """Add, replace or (None) remove one entry; used by tests and tools."""
        if config is None:
            self.entries.pop(tenant_id, None)
        else:
            self.entries[tenant_id] = config

    @property
    def configured(self) -> bool:
        return bool(self.entries)

    @classmethod
    def parse(cls, raw: Any) -> CrmDirectory:
        if not isinstance(raw, dict):
            raise CrmConfigError("the CRM configuration must map tenant ids to objects")
        return cls({str(k): CrmConfig.parse(str(k), v) for k, v in raw.items()})


def load_crm_directory(path: str | None) -> CrmDirectory:
    """Read `CRM_CONFIG_FILE`; `.yaml`/`.yml` files are read as YAML, anything else as JSON."""
    if not path:
        return CrmDirectory()
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise CrmConfigError(f"cannot read CRM_CONFIG_FILE {path}: {exc.strerror}") from None
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            # Only the position: PyYAML's message quotes the source line, which may hold a token.
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise CrmConfigError(f"CRM_CONFIG_FILE {path} is not valid YAML{where}") from None
    else:
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise CrmConfigError(f"CRM_CONFIG_FILE {path} is not valid JSON: {exc}") from None
    return CrmDirectory.parse(raw or {})
