"""The generic HTTP/JSON connector (contract: api-contract.md, section CRM).

`field_map` renames our field names to the CRM's: on the way out (the pushed body, the e-mail
query parameter) ours -> theirs; on the way in (customers) theirs -> ours.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from conversation_service.adapters.crm.base import CrmConversation, Customer
from conversation_service.adapters.crm.config import CrmConfig
from conversation_service.adapters.crm.errors import CrmBadResponse, answer_id
from conversation_service.adapters.crm.transport import CrmHttp


class GenericHttpCrm:
    def __init__(
        self, config: CrmConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.http = CrmHttp(config, transport=transport)
        self.breaker = self.http.breaker
        self._out = config.field_map
        self._in = config.reverse_field_map

    def _customer(self, raw: Any, what: str) -> Customer:
        if not isinstance(raw, dict):
            raise CrmBadResponse(f"CRM {what}: customer is not a JSON object")
        return {self._in.get(str(k), str(k)): v for k, v in raw.items()}

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        body = await self.http.request(
            "GET", f"/customers/{quote(customer_id, safe='')}", not_found_ok=True
        )
        return None if body is None else self._customer(body, "GET /customers/{id}")

    async def get_customer_by_email(self, email: str) -> Customer | None:
        param = self._out.get("email", "email")
        body = await self.http.request("GET", "/customers", params={param: email})
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise CrmBadResponse("CRM GET /customers: no `items` list in the answer")
        return self._customer(items[0], "GET /customers") if items else None

    async def push_conversation(self, conversation: CrmConversation) -> str:
        body = {self._out.get(k, k): v for k, v in conversation.body().items()}
        answer = await self.http.request(
            "POST",
            "/conversations",
            json=body,
            headers={"Idempotency-Key": conversation.idempotency_key},
        )
        return answer_id(answer, "CRM POST /conversations")

    async def aclose(self) -> None:
        await self.http.aclose()
