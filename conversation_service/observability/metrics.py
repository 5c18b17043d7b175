"""Prometheus metrics with `prometheus_client`, one registry for the process.

Counters and histograms are module constants, as `prometheus_client` intends (they are process
state, like the process itself); values that live in an app's objects (sockets, subscriptions, the
database pool, the broadcast) are read at scrape time by `StateCollector`, so nothing has to keep a
gauge in step by hand. Label values come from bounded sets: door and route templates are closed
sets; GraphQL operation names are the caller's words, so `OperationNames` admits the first
`MAX_OPERATION_NAMES` well-formed names of a process and files the rest under `other`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

NAMESPACE = "conversation_service"
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

#: Request latencies on this service span 0.5 ms (a cached read) to seconds (a timeout).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "requests",
    "HTTP requests answered, by door (graphql, rest, other), operation and status class.",
    ["door", "operation", "status"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "request_duration_seconds",
    "Time from the request's first byte to the response's last, by door and operation.",
    ["door", "operation"],
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_ERRORS = Counter(
    "graphql_errors",
    "GraphQL errors sent to callers, by extensions.code.",
    ["code"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
FAST_PATH_FALLBACKS = Counter(
    "fast_path_fallbacks",
    "GraphQL queries the compiled read path handed to Strawberry, by reason.",
    ["reason"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "subscription_deliveries",
    "Subscription events sent to sockets, by field.",
    ["field"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERY_LAG_SECONDS = Histogram(
    "subscription_delivery_lag_seconds",
    "Time from a message's commit (createdAt) to its frame being queued for a socket.",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
WORKER_ACTIONS = Counter(
    "worker_actions",
    "Actions the worker finished, by action type and outcome (ok, failed, retried, dead_letter).",
    ["action_type", "outcome"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
WORKER_ACTION_SECONDS = Histogram(
    "worker_action_duration_seconds",
    "Time to apply one action (handler, ledger, reply), by action type.",
    ["action_type"],
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
CRM_PUSHES = Counter(
    "crm_sync_pushes",
    "CRM sync push attempts, by outcome (synced, failed, retry).",
    ["outcome"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
CRM_PUSH_SECONDS = Histogram(
    "crm_sync_push_duration_seconds",
    "Time of one push to a CRM.",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)

#: Action types the worker knows; anything else is counted as `unknown` (bounded labels).
_ACTION_TYPE_RE = re.compile(r"^[a-z_]+(\.[a-z_]+){1,3}$")
MAX_OPERATION_NAMES = 200
_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")


class OperationNames:
    """Admits the first `limit` distinct well-formed names; later ones are `other`."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._seen:
            return name
        if not _NAME_RE.match(name):
            return "other"
        with self._lock:
            if len(self._seen) >= self._limit:
                return "other"
            self._seen.add(name)
        return name


OPERATION_NAMES = OperationNames()


def action_type_label(action_type: object) -> str:
    if (
        isinstance(action_type, str)
        and len(action_type) <= 64
        and _ACTION_TYPE_RE.match(action_type)
    ):
        return action_type
    return "unknown"


class StatsSource(Protocol):
    def stats(self) -> Mapping[str, int | float]: ...


class StateCollector(Collector):
    """Gauges read at scrape time from live objects of one app: `(prefix, help, source)`; the
    metric is `conversation_service_<prefix>_<key>` for every key the source reports."""

    def __init__(self, sources: Iterable[tuple[str, str, Callable[[], Mapping[str, float]]]]):
        self._sources = list(sources)

    def collect(self) -> Iterable[Metric]:
        for prefix, help_text, read in self._sources:
            try:
                values = read()
            except Exception:  # a scrape reports what it can; a dead source reads as absent
                continue
            for key, value in sorted(values.items()):
                name = "_".join(part for part in (NAMESPACE, prefix, key) if part)
                yield GaugeMetricFamily(name, f"{help_text}: {key}.", value=float(value))


def exposition(extra: Collector | None = None) -> bytes:
    """The text exposition of the process registry, plus one app's live gauges."""
    body = generate_latest(REGISTRY)
    if extra is not None:
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(extra)
        body += generate_latest(scrape)
    return body
