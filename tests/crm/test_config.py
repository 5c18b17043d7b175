import json
import logging
from pathlib import Path
from typing import Any

import pytest

from conversation_service.adapters.crm import (
    CrmConfig,
    CrmConfigError,
    CrmService,
    Secret,
    load_crm_directory,
)

TOKEN = "super-secret-token-123"


def test_json_and_yaml_files_with_wildcard(tmp_path: Path) -> None:
    data = {
        "tenant-a": {"connector": "http", "base_url": "https://crm.example/api/", "token": TOKEN,
                     "field_map": {"email": "customer_email"}, "timeout_s": 5, "cache_ttl_s": 300},
        "*": {"connector": "hubspot", "token": "hs-token"},
    }  # fmt: skip
    j = tmp_path / "crm.json"
    j.write_text(json.dumps(data))
    y = tmp_path / "crm.yaml"
    y.write_text(
        "tenant-a:\n  connector: http\n  base_url: https://crm.example/api/\n"
        f"  token: {TOKEN}\n  field_map: {{email: customer_email}}\n"
        "'*':\n  connector: hubspot\n  token: hs-token\n"
    )
    for path in (j, y):
        d = load_crm_directory(str(path))
        a = d.for_tenant("tenant-a")
        assert a is not None
        assert a.base_url == "https://crm.example/api"
        assert a.field_map == {"email": "customer_email"}
        assert a.token.reveal() == TOKEN
        other = d.for_tenant("tenant-b")
        assert other is not None
        assert other.connector == "hubspot"
        assert other.base_url == "https://api.hubapi.com"
        assert other.key == "*"
    d.set("*", None)
    assert d.for_tenant("tenant-b") is None  # no entry and no "*": no CRM


def test_token_never_printed(caplog: pytest.LogCaptureFixture) -> None:
    config = CrmConfig.parse("t", {"connector": "http", "base_url": "http://x", "token": TOKEN})
    caplog.set_level(logging.DEBUG)
    logging.getLogger("t").info("config %s %r", config, config)
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert TOKEN not in caplog.text
    assert str(Secret(TOKEN)) == "***"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"connector": "sap", "token": TOKEN}, "connector"),
        ({"connector": "http", "token": TOKEN}, "base_url"),
        ({"connector": "http", "base_url": "http://x", "token": ""}, "token"),
        (
            {"connector": "http", "base_url": "http://x", "token": TOKEN, "timeout_s": -1},
            "timeout_s",
        ),
    ],
)
def test_invalid_entries_are_rejected_without_the_token(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(CrmConfigError) as info:
        CrmConfig.parse("t", raw)
    assert message in str(info.value)
    assert TOKEN not in str(info.value)


def test_bad_yaml_error_does_not_quote_the_token(tmp_path: Path) -> None:
    y = tmp_path / "crm.yml"
    y.write_text(f"t:\n  token: {TOKEN}\n   bad: [\n")
    with pytest.raises(CrmConfigError) as info:
        load_crm_directory(str(y))
    assert TOKEN not in str(info.value)


def test_service_gives_each_entry_its_own_client() -> None:
    d = load_crm_directory(None)
    assert not d.configured
    d.set("a", CrmConfig.parse("a", {"connector": "http", "base_url": "http://a", "token": "x"}))
    d.set("*", CrmConfig.parse("*", {"connector": "hubspot", "token": "y"}))
    s = CrmService(d)
    a, b, c = s.client_for("a"), s.client_for("b"), s.client_for("c")
    assert a is not None
    assert b is not None
    assert c is not None
    assert a[1] is not b[1]
    assert b[1] is c[1]
