"""The one bounded cache: its bound, its order, eviction callbacks, and use from many threads."""

from __future__ import annotations

import doctest
import threading

import pytest

from policyengine import bounded_cache
from policyengine.bounded_cache import BoundedCache


def test_doctests() -> None:
    assert doctest.testmod(bounded_cache).failed == 0


def test_never_holds_more_than_its_size_and_drops_the_least_recently_used() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(10):
        cache.put(key, str(key))
        assert len(cache) <= 3
    assert cache.keys() == [7, 8, 9]
    cache.get(7)
    cache.put(10, "10")
    assert cache.keys() == [9, 7, 10]
    assert 8 not in cache and cache.get(8) is None and cache.get(8, "gone") == "gone"


def test_eviction_callback_gets_each_pushed_out_entry_once() -> None:
    evicted: list[tuple[int, str]] = []
    cache: BoundedCache[int, str] = BoundedCache(2, on_evict=lambda key, value: evicted.append((key, value)))
    for key in range(5):
        cache.put(key, f"v{key}")
    assert evicted == [(0, "v0"), (1, "v1"), (2, "v2")]
    assert cache.pop(3) == "v3"
    cache.clear()
    assert evicted == [(0, "v0"), (1, "v1"), (2, "v2")]  # pop and clear hand the values to the caller


def test_a_falsy_value_is_a_hit() -> None:
    cache: BoundedCache[str, object] = BoundedCache(2)
    cache.put("none", None)
    made: list[int] = []
    assert cache.get_or_make("none", lambda: made.append(1)) is None and not made


def test_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_many_threads_keep_the_bound() -> None:
    cache: BoundedCache[int, int] = BoundedCache(64)

    def work(offset: int) -> None:
        for key in range(2000):
            cache.put(offset * 10000 + key, key)
            cache.get(offset * 10000 + key // 2)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 64 == len(set(cache.keys()))
