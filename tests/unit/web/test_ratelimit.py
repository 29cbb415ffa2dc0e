"""The token bucket: a burst at once, then the rate, per key."""

from __future__ import annotations

import pytest

from funnelwatch.processors.web.ratelimit import HttpLimits, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.allow("k") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("k") == pytest.approx(0.5)
    clock.now = 0.5
    assert limiter.allow("k")
    assert not limiter.allow("k")


def test_keys_have_budgets_of_their_own() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=Clock())
    assert limiter.allow("a")
    assert not limiter.allow("a")
    assert limiter.allow("b")


def test_memory_is_bounded_by_forgetting_the_least_recent_key() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        assert limiter.allow(key)
    assert len(limiter._buckets) == 2
    assert limiter.allow("a")  # forgotten: starts again with a full bucket


def test_a_request_passes_both_limits_or_waits_for_the_tighter_one() -> None:
    clock = Clock()
    limits = HttpLimits(RateLimiter(1.0, 5, clock=clock), RateLimiter(1.0, 2, clock=clock))
    assert limits.admit("key", "10.0.0.1") is None
    assert limits.admit("key", "10.0.0.1") is None
    assert limits.admit("key", "10.0.0.1") == pytest.approx(1.0)  # the client's budget
    assert limits.admit("key", "10.0.0.2") is None  # same key, another client
