"""The HTTP plumbing shared by connectors: bearer auth, timeouts, breaker, error mapping.

Errors are rebuilt from the method, path and status only: httpx exceptions are never passed
on as text, so neither the token nor a customer's e-mail (query string) reaches logs or errors.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

from conversation_service.adapters.crm.breaker import CircuitBreaker
from conversation_service.adapters.crm.config import CrmConfig
from conversation_service.adapters.crm.errors import (
    CrmBadResponse,
    CrmRejected,
    CrmUnavailable,
    redact,
)

log = logging.getLogger("conversation_service.crm")


class CrmHttp:
    def __init__(self, config: CrmConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.breaker = CircuitBreaker(
            f"{config.connector}:{config.key}",
            failure_threshold=config.breaker_failures,
            reset_timeout_s=config.breaker_reset_s,
        )
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout_s),
            headers={
                "Authorization": f"Bearer {config.token.reveal()}",
                "Accept": "application/json",
                "User-Agent": "nooble4-conversation-service",
            },
            transport=transport,
            follow_redirects=False,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> Any:
        """One CRM call through the breaker; the parsed JSON body, or None for an allowed 404."""

        async def call() -> Any:
            return await self._send(method, path, params, json, headers, not_found_ok)

        return await self.breaker.call(call)

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        json: Any,
        headers: dict[str, str] | None,
        not_found_ok: bool,
    ) -> Any:
        what = f"CRM {method} {path}"
        content = orjson.dumps(json) if json is not None else None
        hdrs = dict(headers or {})
        if content is not None:
            hdrs["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, path, params=params, content=content, headers=hdrs
            )
        except httpx.TimeoutException:
            raise CrmUnavailable(f"{what} timed out after {self.config.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"{what} failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == 404 and not_found_ok:
            return None
        if status >= 500 or status in (408, 429):
            raise CrmUnavailable(f"{what} answered HTTP {status}")
        if status >= 400:
            raise CrmRejected(f"{what} answered HTTP {status}")
        if status == 204 or not response.content:
            raise CrmBadResponse(f"{what} answered HTTP {status} with an empty body")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise CrmBadResponse(f"{what} answered a body that is not JSON") from None

    def safe(self, text: str) -> str:
        return redact(text, self.config.token.reveal())

    async def aclose(self) -> None:
        await self._client.aclose()
