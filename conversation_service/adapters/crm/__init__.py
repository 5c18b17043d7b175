"""CRM connectors: the `CrmClient` protocol, the generic HTTP/JSON and HubSpot connectors,
per-tenant configuration, circuit breaker and customer cache."""

from conversation_service.adapters.crm.base import CrmClient, CrmConversation, Customer
from conversation_service.adapters.crm.breaker import BreakerState, CircuitBreaker
from conversation_service.adapters.crm.config import (
    CrmConfig,
    CrmConfigError,
    CrmDirectory,
    Secret,
    load_crm_directory,
)
from conversation_service.adapters.crm.errors import (
    CrmBadResponse,
    CrmCircuitOpen,
    CrmError,
    CrmRejected,
    CrmUnavailable,
)
from conversation_service.adapters.crm.service import CrmService, make_client

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CrmBadResponse",
    "CrmCircuitOpen",
    "CrmClient",
    "CrmConfig",
    "CrmConfigError",
    "CrmConversation",
    "CrmDirectory",
    "CrmError",
    "CrmRejected",
    "CrmService",
    "CrmUnavailable",
    "Customer",
    "Secret",
    "load_crm_directory",
    "make_client",
]
