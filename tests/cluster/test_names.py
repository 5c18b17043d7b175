"""Cluster URLs and the hash tags of the keys this service names (no Redis needed)."""

from __future__ import annotations

import pytest

from conversation_service.adapters.crm.config import CrmConfig
from conversation_service.adapters.crm.service import CrmService
from conversation_service.adapters.events import channel
from conversation_service.adapters.rate_limits import RateLimiter
from conversation_service.adapters.redis_client import (
    is_cluster,
    parse_cluster_url,
    same_slot_name,
    slot_of,
)
from conversation_service.domain.crm_customers import cache_key
from conversation_service.worker.settle import marker
from conversation_service.worker.streams import dead_stream, main_stream


def test_cluster_urls_name_their_seed_nodes() -> None:
    parsed = parse_cluster_url("rediss+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002/0?a=1")
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert parsed.node_url("10.0.0.9", 7005) == "rediss://u:p%40ss@10.0.0.9:7005/0?a=1"
    assert parsed.node_url("::1", 7002) == "rediss://u:p%40ss@[::1]:7002/0?a=1"
    assert is_cluster("redis+cluster://h:1")
    assert is_cluster("REDISS+CLUSTER://h:1")
    assert not is_cluster("redis://h:1")
    assert not is_cluster(None)
    for bad in ("redis://h:1", "redis+cluster://", "redis+cluster://h:port"):
        with pytest.raises(ValueError, match="Redis Cluster URL"):
            parse_cluster_url(bad)


def test_a_commits_channels_share_the_tenants_slot() -> None:
    tenant, cid = "acme", "7f1c3c1e-4b8a-4d53-9a51-3f8f3f6f2d10"
    assert channel(tenant, "message_added") == "cs:{acme}:message_added"
    assert slot_of(channel(tenant, "message_added", cid)) == slot_of(tenant)
    assert slot_of(channel(tenant, "state_changed", cid)) == slot_of(tenant)


def test_rate_limit_and_crm_keys_carry_the_tenant_tag() -> None:
    assert slot_of(RateLimiter("5/minute").storage_key("acme")) == slot_of("acme")
    config = CrmConfig.parse(
        "acme", {"connector": "http", "base_url": "https://c.example", "token": "x"}
    )
    key = cache_key(CrmService(env="prod"), config, "acme", ("email", "a@b.c"))
    assert key.startswith("nooble4:prod:conversation:crm:customer:{acme}:")
    assert slot_of(key) == slot_of("acme")


@pytest.mark.parametrize(
    "key",
    [
        main_stream("prod"),
        dead_stream("prod"),
        "nooble4:prod:x:responses:y:{c1}",
        "a{b",
        "nooble4:{prod}:s",
    ],
)
def test_markers_land_on_their_keys_slot(key: str) -> None:
    name = marker(key, "replied", main_stream("prod"), "1-0")
    assert name is not None
    assert slot_of(name) == slot_of(key)
    assert name != key


def test_a_key_whose_braces_defeat_both_forms_has_no_marker() -> None:
    """`x}y` has no tag of its own, and `{x}y}:m` would take `x` as its tag: no name of that
    slot can be built, so its reply is pushed without a marker (at least once)."""
    assert same_slot_name("x}y", ":m") is None
    assert same_slot_name("}x{", ":m") is None
    assert marker("x}y", "replied", "s", "1-0") is None
