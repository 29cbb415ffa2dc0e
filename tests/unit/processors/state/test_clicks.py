"""The click cache: the last ``capacity`` clicks, oldest dropped first, segments shared."""

from __future__ import annotations

from funnelwatch.processors.attribution.rules import Segment
from funnelwatch.processors.state.clicks import ClickCache

KEY_A = ("cmp-a", "google", "ag1", "mobile", "DE")
KEY_B = ("cmp-b", "bing", "ag2", "desktop", "FR")


def seg(key: tuple[str, ...]) -> Segment:
    return Segment(key[0], key[1:])


def test_a_cached_click_gives_its_segment() -> None:
    cache = ClickCache(10)
    assert cache.add("k1", KEY_A) == seg(KEY_A)
    assert cache.get("k1") == seg(KEY_A)
    assert cache.get("k2") is None


def test_the_oldest_click_is_dropped_first() -> None:
    cache = ClickCache(3)
    for i in range(5):
        cache.add(f"k{i}", KEY_A)
    assert len(cache) == 3
    assert [cache.get(f"k{i}") is not None for i in range(5)] == [False, False, True, True, True]


def test_a_click_added_again_keeps_its_place_and_segment() -> None:
    cache = ClickCache(2)
    cache.add("k1", KEY_A)
    cache.add("k1", KEY_B)  # the same click read again (a replay): nothing changes
    cache.add("k2", KEY_B)
    assert len(cache) == 2
    assert cache.get("k1") == seg(KEY_A)
    cache.add("k3", KEY_B)  # k1 is still the oldest
    assert cache.get("k1") is None and cache.get("k2") is not None


def test_clicks_of_one_segment_share_one_segment_object() -> None:
    cache = ClickCache(1000)
    for i in range(500):
        cache.add(f"k{i}", (*KEY_A[:4], "DE"))  # equal tuples, distinct objects
    segments = {id(cache.get(f"k{i}")) for i in range(500)}
    assert len(segments) == 1


def test_segments_of_dropped_clicks_are_released_eventually() -> None:
    cache = ClickCache(2)
    for i in range(50):
        cache.add(f"k{i}", (f"cmp-{i}", "google", "ag", "mobile", "DE"))
    # at most a few times the capacity of distinct segments is kept
    assert len(cache._segments) <= 4 * 2 + 1
    assert cache.get("k49") == Segment("cmp-49", ("google", "ag", "mobile", "DE"))


def test_a_cache_of_capacity_zero_still_holds_the_last_click() -> None:
    cache = ClickCache(0)
    cache.add("k1", KEY_A)
    cache.add("k2", KEY_B)
    assert cache.get("k1") is None and cache.get("k2") == seg(KEY_B)
