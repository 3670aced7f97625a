"""Rate limits of the token endpoint: token buckets per client id and per address.

Each attempt reserves a token from both buckets before any work (so a burst of parallel
attempts is counted, not only finished ones); a successful authentication gives both back,
so an integration fetching its token every few minutes is never slowed by its own logins,
only by failures. An empty bucket answers 429 with Retry-After until it refills. The
buckets live in the replica's memory: with N replicas an attacker gets up to N times the
rate, still bounded.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Bucket:
    tokens: float
    updated: float


class KeyedBuckets:
    """A token bucket per key: `burst` attempts saved up, `per_minute` more each minute."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _current(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold nothing a new one would not); if
        none has, the oldest half, so that many keys cannot grow the memory without end."""
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        if not full:
            full = list(self._buckets)[: len(self._buckets) // 2]
        for key in full:
            del self._buckets[key]

    def wait_seconds(self, key: str) -> float:
        """0 if the key may try now, else how long until it may."""
        bucket = self._current(key, self.clock())
        if bucket.tokens >= 1:
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def take(self, key: str) -> None:
        self._current(key, self.clock()).tokens -= 1

    def give_back(self, key: str) -> None:
        bucket = self._current(key, self.clock())
        bucket.tokens = min(self.burst, bucket.tokens + 1)


class TokenEndpointThrottle:
    """The token endpoint's two limits together."""

    def __init__(self, *, per_client: KeyedBuckets, per_address: KeyedBuckets) -> None:
        self.per_client = per_client
        self.per_address = per_address

    def reserve(self, client_id: str, address: str) -> int | None:
        """Take one attempt from both buckets; if either is empty take nothing and return
        the seconds to wait (for Retry-After, at least 1)."""
        wait = max(self.per_client.wait_seconds(client_id), self.per_address.wait_seconds(address))
        if wait > 0:
            return max(1, math.ceil(wait))
        self.per_client.take(client_id)
        self.per_address.take(address)
        return None

    def succeeded(self, client_id: str, address: str) -> None:
        self.per_client.give_back(client_id)
        self.per_address.give_back(address)


def parse_networks(values: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The caller's address: the direct peer, unless the peer is a trusted proxy; then the
    last X-Forwarded-For entry not added by a trusted proxy (entries further left are the
    caller's own word and can be forged)."""
    address = peer or "unknown"
    if not forwarded_for or not _is_trusted(address, trusted):
        return address
    for entry in reversed(forwarded_for.split(",")):
        candidate = entry.strip()
        if not candidate:
            continue
        address = candidate
        if not _is_trusted(candidate, trusted):
            break
    return address[:64]


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
