"""One Redis or a Redis Cluster, from one URL, and the naming rules a cluster imposes.

`redis://` and `rediss://` are redis-py's own URLs (one server). `redis+cluster://` and
`rediss+cluster://` name a cluster by one or more of its nodes, comma-separated
(`redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7000`): the form the `limits` library reads
for its cluster storage, so one `REDIS_URL` serves every client of the process. The query string
(`?ssl_ca_certs=...`) applies to every node.

In a cluster a command or script may only touch keys of one hash slot. A key's slot is the
CRC16 of its hash tag (the text between its first `{` and the next `}`, when not empty), else of
the whole key. Keys this service names carry the tenant as their tag (`tagged`), so the keys one
operation touches share a slot; keys named by others (the nooble4 streams and reply queues) are
used as they are, and `same_slot_name` finds a name of ours that lands on the slot of such a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

RedisClient: TypeAlias = aioredis.Redis | RedisCluster

#: cluster scheme -> the one-server scheme its nodes speak
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
DEFAULT_PORT = 6379


def is_cluster(url: str | None) -> bool:
    return url is not None and url.partition("://")[0].lower() in CLUSTER_SCHEMES


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A parsed `redis+cluster://` URL: its seed nodes and how to reach any one node."""

    nodes: tuple[tuple[str, int], ...]
    scheme: str  # redis or rediss
    userinfo: str  # "user:password@" or ""
    tail: str  # path and query, applied to every node

    def node_url(self, host: str, port: int) -> str:
        """redis-py's URL of one node (a pub/sub connection to it, a client's first node)."""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{self.userinfo}{host}:{port}{self.tail}"


def parse_cluster_url(url: str) -> ClusterUrl:
    scheme, sep, rest = url.partition("://")
    base = CLUSTER_SCHEMES.get(scheme.lower())
    if not sep or base is None:
        raise ValueError(f"not a Redis Cluster URL (redis+cluster://host:port,...): {url!r}")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, hosts = netloc.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for item in filter(None, (h.strip() for h in hosts.split(","))):
        if item.startswith("["):  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            nodes.append((host, int(port) if port else DEFAULT_PORT))
        except ValueError:
            raise ValueError(f"bad node {item!r} in Redis Cluster URL") from None
    if not nodes:
        raise ValueError(f"a Redis Cluster URL names at least one node: {url!r}")
    return ClusterUrl(tuple(nodes), base, userinfo + at, tail)


def redis_client(url: str, **options: Any) -> RedisClient:
    """`redis.asyncio.Redis` for a server URL, `RedisCluster` for a cluster URL (it discovers
    every node from the seeds and follows MOVED/ASK on its own)."""
    if not is_cluster(url):
        return aioredis.from_url(url, **options)
    parsed = parse_cluster_url(url)
    (host, port), *others = parsed.nodes
    return RedisCluster.from_url(
        parsed.node_url(host, port),
        startup_nodes=[ClusterNode(h, p) for h, p in others],
        **options,
    )


def tagged(value: str) -> str:
    """`value` as a hash tag: keys sharing it share a slot (tenant ids hold no braces)."""
    return "{" + value + "}"


def slot_of(key: str | bytes) -> int:
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def same_slot_name(key: str, suffix: str) -> str | None:
    """A name built from `key` and `suffix` that hashes to `key`'s slot, or None when none of
    the forms does (a key whose braces defeat both). With a tag of its own, `key + suffix` keeps
    it; without one, `{key}suffix` makes the whole key the tag."""
    slot = slot_of(key)
    for name in (key + suffix, tagged(key) + suffix):
        if slot_of(name) == slot:
            return name
    return None
