"""HubSpot connector on the public CRM v3 API.

* contact by id: `GET /crm/v3/objects/contacts/{id}?properties=...`
* contact by e-mail: `POST /crm/v3/objects/contacts/search` (filter `email EQ ...`)
* the conversation: `POST /crm/v3/objects/notes` with `hs_timestamp`, `hs_note_body` (summary and
  metrics) and an association to the contact (HUBSPOT_DEFINED type 202, note -> contact).

HubSpot has no idempotency keys for object creation; the header is sent anyway (harmless) and the
sync's `last_synced_seq` check keeps a seq from being pushed twice.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

import httpx

from conversation_service.adapters.crm.base import CrmConversation, Customer
from conversation_service.adapters.crm.config import CrmConfig
from conversation_service.adapters.crm.errors import CrmBadResponse, CrmRejected, answer_id
from conversation_service.adapters.crm.transport import CrmHttp

CONTACT_PROPERTIES = ["email", "firstname", "lastname", "phone", "company", "lifecyclestage"]
NOTE_TO_CONTACT = 202


def _contact(raw: Any, field_map: dict[str, str]) -> Customer:
    """A HubSpot contact as our customer: `id`, `name`, `email` and the other properties."""
    if not isinstance(raw, dict) or not isinstance(raw.get("properties"), dict):
        raise CrmBadResponse("HubSpot contact has no `properties` object")
    props: dict[str, Any] = raw["properties"]
    reverse = {theirs: ours for ours, theirs in field_map.items()}
    customer: Customer = {reverse.get(k, k): v for k, v in props.items()}
    name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
    customer["id"] = str(raw.get("id") or props.get("hs_object_id") or "")
    customer.setdefault("name", name or None)
    customer.setdefault("email", props.get("email"))
    return customer


def note_body(c: CrmConversation) -> str:
    lines = [
        f"<b>Conversation {html.escape(c.conversation_id)}</b>",
        html.escape(c.summary) if c.summary else "",
        f"Status: {html.escape(c.status)}",
        f"Messages: {c.message_count} (up to seq {c.last_seq})",
        f"Tokens: {c.total_tokens}",
        f"Started: {c.started_at.isoformat()}",
    ]
    if c.last_message_at is not None:
        lines.append(f"Last message: {c.last_message_at.isoformat()}")
    if c.tags:
        lines.append("Tags: " + html.escape(", ".join(c.tags)))
    return "<br>".join(line for line in lines if line)


class HubSpotCrm:
    def __init__(
        self, config: CrmConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.http = CrmHttp(config, transport=transport)
        self.breaker = self.http.breaker
        self._props = sorted({*CONTACT_PROPERTIES, *config.field_map.values()})

    async def get_customer_by_id(self, customer_id: str) -> Customer | None:
        body = await self.http.request(
            "GET",
            f"/crm/v3/objects/contacts/{quote(customer_id, safe='')}",
            params={"properties": ",".join(self._props)},
            not_found_ok=True,
        )
        return None if body is None else _contact(body, self.config.field_map)

    async def get_customer_by_email(self, email: str) -> Customer | None:
        body = await self.http.request(
            "POST",
            "/crm/v3/objects/contacts/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
                ],
                "properties": self._props,
                "limit": 1,
            },
        )
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise CrmBadResponse("HubSpot contact search: no `results` list in the answer")
        return _contact(results[0], self.config.field_map) if results else None

    async def push_conversation(self, conversation: CrmConversation) -> str:
        contact_id = conversation.customer_id
        if not contact_id and conversation.customer_email:
            found = await self.get_customer_by_email(conversation.customer_email)
            contact_id = found["id"] if found else None
        if not contact_id:
            raise CrmRejected("HubSpot: the conversation has no contact to log it on")
        timestamp = conversation.last_message_at or conversation.started_at
        answer = await self.http.request(
            "POST",
            "/crm/v3/objects/notes",
            json={
                "properties": {
                    "hs_timestamp": timestamp.isoformat(),
                    "hs_note_body": note_body(conversation),
                },
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": NOTE_TO_CONTACT,
                            }
                        ],
                    }
                ],
            },
            headers={"Idempotency-Key": conversation.idempotency_key},
        )
        return answer_id(answer, "HubSpot POST /crm/v3/objects/notes")

    async def aclose(self) -> None:
        await self.http.aclose()
