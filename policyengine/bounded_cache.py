"""One bounded, thread-safe, least-recently-used cache for every kept result of the engine.

Rewrites, decisions, wrapper texts, prepared plans, shadow catalogs and inferred parameter types are
all kept per key up to a bound, so that a client sending endless distinct statements cannot grow the
process without end. They share this one implementation instead of each holding an ``OrderedDict``,
a lock and an eviction loop of its own.

>>> cache = BoundedCache(2)
>>> cache.put("a", 1); cache.put("b", 2)
>>> cache.get("a")          # a is now the most recently used
1
>>> cache.put("c", 3)       # so b, the least recently used, goes
>>> sorted(cache.keys())
['a', 'c']
>>> cache.get_or_make("d", lambda: 4), len(cache)
(4, 2)

A cache keyed by statement text is bounded by the bytes it holds as well (``budget``, what ``weigh``
says an entry holds): texts run from a few bytes to megabytes, and a count alone lets a client that
sends long distinct statements grow the process by gigabytes. An entry weighing more than the whole
budget is not kept.

>>> texts = BoundedCache(100, budget=10, weigh=lambda key, value: len(key))
>>> texts.put("abcd", 1); texts.put("efgh", 2); texts.put("ijkl", 3)   # 12 bytes: abcd goes
>>> texts.keys(), texts.weight
(['efgh', 'ijkl'], 8)
>>> texts.put("x" * 11, 4); len(texts)
2
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()

#: what a kept str costs beyond its characters (CPython's header), and a kept entry beyond its key and
#: value (the ordered dict's slot and node, the key's tuple)
STR_OVERHEAD = 49
ENTRY_OVERHEAD = 200


def text_bytes(*parts: Any) -> int:
    """About what the texts among ``parts`` (strs and bytes, in tuples and lists too) hold, plus one
    entry's overhead: what a statement-text cache's ``weigh`` returns."""
    total = ENTRY_OVERHEAD
    stack = list(parts)
    while stack:
        part = stack.pop()
        if isinstance(part, (str, bytes)):
            total += len(part) + STR_OVERHEAD
        elif isinstance(part, (tuple, list)):
            stack.extend(part)
    return total


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries and, with a ``budget``, entries that ``weigh`` at most ``budget``
    bytes together; the least recently used goes first.

    ``on_evict(key, value)`` runs for each entry pushed out by :meth:`put` (not for :meth:`pop` or
    :meth:`clear`, whose callers hold what they removed), outside the lock: it may close connections
    or run statements without holding up other threads.
    """

    def __init__(self, size: int, on_evict: Callable[[K, V], None] | None = None, *,
                 budget: int | None = None, weigh: Callable[[K, V], int] | None = None):
        if size < 1:
            raise ValueError("a bounded cache holds at least one entry")
        if (budget is None) != (weigh is None):
            raise ValueError("a byte budget needs a weigh function, and the other way round")
        self.size = size
        self.budget = budget
        self._weigh = weigh
        self._on_evict = on_evict
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}
        #: what the entries weigh together (0 without a budget)
        self.weight = 0
        self._lock = Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value kept for ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._entries.move_to_end(key)
            return value  # type: ignore[return-value]

    def put(self, key: K, value: V) -> None:
        if self._weigh is None:
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                evicted = [self._entries.popitem(last=False) for _ in range(len(self._entries) - self.size)]
        else:
            cost = self._weigh(key, value)
            with self._lock:
                if cost > self.budget:  # type: ignore[operator]
                    old = self._entries.pop(key, _MISSING)
                    if old is not _MISSING:
                        self.weight -= self._weights.pop(key)
                    return
                self._entries[key] = value
                self._entries.move_to_end(key)
                self.weight += cost - self._weights.get(key, 0)
                self._weights[key] = cost
                evicted = []
                while len(self._entries) > self.size or self.weight > self.budget:  # type: ignore[operator]
                    old_key, old_value = self._entries.popitem(last=False)
                    self.weight -= self._weights.pop(old_key)
                    evicted.append((old_key, old_value))
        if self._on_evict is not None:
            for old_key, old_value in evicted:
                self._on_evict(old_key, old_value)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The kept value, or ``make()`` kept and returned. ``make`` runs outside the lock, so two
        threads missing at once may both make it; the later one's value is kept."""
        value = self.get(key, _MISSING)  # type: ignore[arg-type]
        if value is _MISSING:
            value = make()
            self.put(key, value)
        return value  # type: ignore[return-value]

    def pop(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            self.weight -= self._weights.pop(key, 0)
            return self._entries.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weights.clear()
            self.weight = 0

    def keys(self) -> list[K]:
        """The keys, least recently used first (a copy: safe to iterate while others use the cache)."""
        with self._lock:
            return list(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
