"""Prepared plans for the statements that repeat, so DuckDB parses and binds them once per cursor.

A rewritten statement reads every table through a derived table (the wrapper), and DuckDB parses,
binds and plans each of them on every run: 0.1-0.7 ms on a TPC-DS query of 2-6 ms, 0.1 ms on a point
lookup, which is most of the engine's cost on short queries. Dashboards and drivers send the same
statements again and again, so the second time a text is run (one the backend lets through:
:meth:`DuckDBBackend._statement`) it is prepared on the cursor that runs it (``PREPARE <name> AS
<the checked text>``) and run by name from then on; a text seen once is run as it is (preparing it
would cost more than it saves). DuckDB binds a prepared statement again by itself when the catalog
or a variable it reads changed since it was prepared.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import duckdb

from policyengine.bounded_cache import BoundedCache, text_bytes

#: what the texts remembered as seen, and as refused, may hold each (bytes, estimated)
TEXTS_BUDGET = 4 << 20


class Plans:
    """The prepared statements of each pooled cursor, and which texts have been seen."""

    def __init__(self, per_cursor: int = 64, remembered: int = 4096):
        self._per_cursor = per_cursor
        self.remembered = remembered
        self._names = itertools.count(1)  # next() on a count is atomic: no lock needed for unique names
        # texts run once, and texts DuckDB would not prepare: bounded by bytes too (texts can be long)
        self._seen: BoundedCache[str, None] = BoundedCache(remembered, budget=TEXTS_BUDGET, weigh=text_bytes)
        self._refused: BoundedCache[str, None] = BoundedCache(remembered, budget=TEXTS_BUDGET, weigh=text_bytes)
        #: id(cursor) -> text -> prepared name; a plan pushed out is deallocated on its cursor
        self._by_cursor: dict[int, BoundedCache[str, str]] = {}

    @property
    def per_cursor(self) -> int:
        """Plans kept per cursor; the oldest is deallocated when one more is prepared."""
        return self._per_cursor

    @per_cursor.setter
    def per_cursor(self, size: int) -> None:
        self._per_cursor = size
        for plans in list(self._by_cursor.values()):
            plans.size = size  # the next put trims to it

    def _plans_of(self, cursor: Any) -> BoundedCache[str, str]:
        plans = self._by_cursor.get(id(cursor))
        if plans is None:
            # a weak reference: the cache must not keep a closed cursor alive (its id is the key)
            ref = weakref.ref(cursor)

            def deallocate(_sql: str, name: str) -> None:
                held = ref()
                if held is None:
                    return
                try:
                    held.execute(f"DEALLOCATE {name}")
                except duckdb.Error:  # gone already: the cursor keeps nothing under that name
                    pass

            plans = self._by_cursor.setdefault(id(cursor), BoundedCache(self._per_cursor, on_evict=deallocate))
        return plans

    def statement(self, cursor: Any, sql: str) -> str:
        """What ``cursor`` should run for ``sql`` (already checked): ``EXECUTE`` of its prepared plan
        on this cursor, or ``sql`` itself. ``cursor`` is the caller's alone until it is released, so
        the plan pushed out of its cache is deallocated on it here, by this thread."""
        plans = self._plans_of(cursor)
        name = plans.get(sql)
        if name is not None:
            return f"EXECUTE {name}"
        if sql in self._refused:
            return sql
        if sql not in self._seen:
            self._seen.put(sql, None)
            return sql
        name = f"__pe_plan_{next(self._names)}"
        try:
            cursor.execute(f"PREPARE {name} AS {sql}")
        except duckdb.Error:
            # not preparable (or it fails to bind, which running the text reports in its own words)
            self._refused.put(sql, None)
            return sql
        plans.put(sql, name)
        return f"EXECUTE {name}"

    def forget(self, cursor: Any) -> None:
        """``cursor`` is closed: its prepared statements went with it."""
        self._by_cursor.pop(id(cursor), None)
