"""Query limits over the WebSocket door (both protocols, a real server): the same rules as over
HTTP, for queries and for subscriptions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.limit_docs import EDGES, deep_subscription
from tests.realtime.conftest import LiveServer, WSClient
from tests.realtime.test_subscriptions import collect, new_conversation, subscribed, write

IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(EDGES)]


def _limits(errors: Any) -> list[str]:
    if isinstance(errors, dict):  # graphql-ws sends one error object
        errors = [errors]
    return [e.get("extensions", {}).get("limit") for e in errors]


@pytest.mark.parametrize(("limit", "at", "past"), EDGES, ids=IDS)
async def test_query_edge_over_the_socket(
    live: LiveServer, tenant: str, protocol: str, limit: str, at: str, past: str
) -> None:
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    try:
        ok = await client.next_data(await client.subscribe(at))
        assert "errors" not in ok, ok
        assert ok["data"]
        refused_op = await client.subscribe(past)
        frame = await client.next_frame(refused_op)
        payload = frame["payload"]
        errors = payload["errors"] if frame["type"] in ("next", "data") else payload
        assert limit in _limits(errors), frame
        assert all(
            e["extensions"]["code"] == "BAD_USER_INPUT"
            for e in (errors if isinstance(errors, list) else [errors])
        )
    finally:
        await client.close()


async def test_subscription_depth_edge(live: LiveServer, tenant: str, protocol: str) -> None:
    cid = await new_conversation(live, tenant)
    client = await WSClient.connect(live.ws_url, protocol, tenant)
    try:
        refused = await client.next_frame(await client.subscribe(deep_subscription(11)))
        assert refused["type"] == "error", refused
        assert "MAX_QUERY_DEPTH" in _limits(refused["payload"])
        op = await client.subscribe(deep_subscription(10))
        await subscribed(live)
        await write(live, tenant, cid, "deep")
        (message,) = await collect(client, op, 1)
        assert message["conversation"]["messages"]["nodes"][0]["conversation"]
    finally:
        await client.close()
