"""Token-bucket rate limits of the HTTP surface, one bucket per key (a token, a site key,
a client address).

Invariant: a key may spend at most ``burst`` requests at once and ``rate`` per second
after that; memory is bounded by ``max_keys`` buckets (the least recently used one is
forgotten, which only ever lets a forgotten key start again with a full bucket).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """``allow(key)`` is True while the key has budget left, and spends one request."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate_per_s > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``key`` has ``cost`` budget again (0 if it has it now)."""
        tokens, stamp = self._buckets.get(key, (float(self.burst), self._clock()))
        tokens = min(float(self.burst), tokens + (self._clock() - stamp) * self.rate)
        return max(0.0, (cost - tokens) / self.rate)


class HttpLimits:
    """The two limits every ingest-like request passes: its key's (a token, a site key, a
    CRM provider) and its client address's. A request refused by either spends nothing
    of the other's budget."""

    def __init__(self, per_key: RateLimiter, per_client: RateLimiter) -> None:
        self.per_key = per_key
        self.per_client = per_client

    @classmethod
    def of(cls, per_key_per_s: float, per_client_per_s: float, burst: int) -> HttpLimits:
        return cls(RateLimiter(per_key_per_s, burst), RateLimiter(per_client_per_s, burst))

    def admit(self, key: str, client: str) -> float | None:
        """None when the request may go on, else the seconds to wait (Retry-After)."""
        if not self.per_client.allow(client):
            return max(1.0, self.per_client.retry_after(client))
        if not self.per_key.allow(key):
            return max(1.0, self.per_key.retry_after(key))
        return None
