"""One id per HTTP request and WebSocket connection: the caller's `X-Request-ID` when it is a
sane token, else a new one; echoed in the response and bound to every log line of the request
(`http_door.HttpDoor` does it).

The W3C `traceparent` header's trace id is bound too, so logs join the caller's trace.
"""

from __future__ import annotations

import re

from starlette.types import Scope

HEADER = "x-request-id"
TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
TENANT_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
STATE_KEY = "request_id"


def request_id_of(scope: Scope) -> str | None:
    value = scope.get("state", {}).get(STATE_KEY)
    return value if isinstance(value, str) else None
