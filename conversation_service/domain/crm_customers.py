"""Customer enrichment from the tenant's CRM: link, cache, batch, and fail soft.

A conversation is linked to a customer by `crm_references.customer_id`, else by
`customer_info.email`. Lookups go through the tenant's CRM client (timeout + circuit breaker)
and a TTL cache (Redis when configured). A CRM that is down or slow yields `None` and a warning,
never an exception: enrichment is decoration, it must not fail a read or touch a write.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from conversation_service.adapters.crm.base import Customer
from conversation_service.adapters.crm.cache import MISS
from conversation_service.adapters.crm.config import CrmConfig
from conversation_service.adapters.crm.errors import CrmError
from conversation_service.domain.ports import Crm
from conversation_service.domain.records import ConversationRecord

log = logging.getLogger("conversation_service.crm")

#: ("id", customer id) or ("email", lowercased address)
CustomerLink = tuple[str, str]
MAX_CONCURRENT_LOOKUPS = 8
#: how long "this customer does not exist" is remembered, at most
NEGATIVE_TTL_S = 60.0


def customer_link(conversation: ConversationRecord) -> CustomerLink | None:
    cid = conversation.crm_references.get("customer_id")
    if isinstance(cid, str | int) and not isinstance(cid, bool) and str(cid).strip():
        return ("id", str(cid).strip())
    email = (conversation.customer_info or {}).get("email")
    if isinstance(email, str) and "@" in email:
        return ("email", email.strip().lower())
    return None


@dataclass
class CustomerLookup:
    customers: dict[CustomerLink, Customer | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def cache_key(crm: Crm, config: CrmConfig, tenant_id: str, link: CustomerLink) -> str:
    """Tenant and CRM are part of the key: one tenant's customers never serve another's. The
    tenant is the key's hash tag (`{acme}`), so a page's lookups (one MGET) are one slot of a
    Redis Cluster."""
    digest = hashlib.sha256(link[1].encode()).hexdigest()[:32]
    return f"{crm.cache_prefix}:{{{tenant_id}}}:{config.fingerprint}:{link[0]}:{digest}"


async def lookup_customers(crm: Crm, tenant_id: str, links: list[CustomerLink]) -> CustomerLookup:
    """Resolve many links with one cache round trip and one CRM call per distinct miss."""
    result = CustomerLookup()
    distinct = list(dict.fromkeys(links))
    pair = crm.client_for(tenant_id)
    if pair is None or not distinct:
        result.customers = dict.fromkeys(distinct)
        return result
    config, client = pair
    keys = {link: cache_key(crm, config, tenant_id, link) for link in distinct}
    cached = await crm.cache.get_many([keys[link] for link in distinct])
    misses: list[CustomerLink] = []
    for link, value in zip(distinct, cached, strict=True):
        if value is MISS:
            misses.append(link)
        else:
            result.customers[link] = value
    crm.stats["cache_hits"] += len(distinct) - len(misses)
    crm.stats["cache_misses"] += len(misses)
    gate = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)

    async def fetch(link: CustomerLink) -> None:
        async with gate:
            try:
                if link[0] == "id":
                    call = client.get_customer_by_id(link[1])
                else:
                    call = client.get_customer_by_email(link[1])
                customer = await asyncio.wait_for(call, config.enrich_timeout_s)
            except TimeoutError:
                problem = f"CRM customer lookup timed out after {config.enrich_timeout_s:g}s"
            except CrmError as exc:
                problem = f"CRM customer lookup failed: {exc.message}"
            except Exception as exc:  # enrichment never fails a read; the type only (no secrets)
                problem = f"CRM customer lookup failed: {type(exc).__name__}"
            else:
                result.customers[link] = customer
                ttl = config.cache_ttl_s if customer is not None else NEGATIVE_TTL_S
                await crm.cache.set(keys[link], customer, min(ttl, config.cache_ttl_s))
                return
        crm.stats["lookup_errors"] += 1
        result.customers[link] = None
        result.warnings.append(problem)
        log.warning("tenant %s: %s", tenant_id, problem)

    await asyncio.gather(*(fetch(link) for link in misses))
    result.warnings = list(dict.fromkeys(result.warnings))
    return result


async def lookup_customer(
    crm: Crm, tenant_id: str, conversation: ConversationRecord
) -> dict[str, Any] | None:
    """The conversation's customer from the tenant's CRM, or None (no link, no CRM, not found,
    CRM down or slow: the last two are logged as warnings). Never raises for CRM trouble.

    For agents' context (`conversationContext`, the worker's `include_customer`) and any other
    caller that wants the customer of one conversation.
    """
    link = customer_link(conversation)
    if link is None:
        return None
    found = await lookup_customers(crm, tenant_id, [link])
    return found.customers.get(link)
