"""Open sockets and subscriptions per tenant, counted in this process."""

from __future__ import annotations


class TenantLimits:
    """Open sockets and subscriptions per tenant (WS_MAX_CONNECTIONS_PER_TENANT,
    WS_MAX_SUBSCRIPTIONS_PER_TENANT), counted in this process."""

    def __init__(self, max_connections: int, max_subscriptions: int) -> None:
        self.max_connections = max_connections
        self.max_subscriptions = max_subscriptions
        self.connections: dict[str, int] = {}
        self.subscriptions: dict[str, int] = {}

    @staticmethod
    def _take(counts: dict[str, int], tenant: str, limit: int) -> bool:
        if counts.get(tenant, 0) >= limit:
            return False
        counts[tenant] = counts.get(tenant, 0) + 1
        return True

    @staticmethod
    def _give(counts: dict[str, int], tenant: str) -> None:
        left = counts.get(tenant, 0) - 1
        if left > 0:
            counts[tenant] = left
        else:
            counts.pop(tenant, None)

    def open_connection(self, tenant: str) -> bool:
        return self._take(self.connections, tenant, self.max_connections)

    def close_connection(self, tenant: str) -> None:
        self._give(self.connections, tenant)

    def open_subscription(self, tenant: str) -> bool:
        return self._take(self.subscriptions, tenant, self.max_subscriptions)

    def close_subscription(self, tenant: str) -> None:
        self._give(self.subscriptions, tenant)
