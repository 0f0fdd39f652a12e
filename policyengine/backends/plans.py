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
import threading
from collections import OrderedDict
from typing import Any

import duckdb


class Plans:
    """The prepared statements of each pooled cursor, and which texts have been seen."""

    def __init__(self, per_cursor: int = 64, remembered: int = 4096):
        self.per_cursor = per_cursor
        self.remembered = remembered
        self._lock = threading.Lock()
        self._names = itertools.count(1)
        self._seen: OrderedDict[str, None] = OrderedDict()  # texts run once, newest last
        self._refused: OrderedDict[str, None] = OrderedDict()  # texts DuckDB would not prepare
        self._by_cursor: dict[int, OrderedDict[str, str]] = {}  # id(cursor) -> text -> prepared name

    def statement(self, cursor: Any, sql: str) -> str:
        """What ``cursor`` should run for ``sql`` (already checked): ``EXECUTE`` of its prepared plan
        on this cursor, or ``sql`` itself. ``cursor`` is the caller's alone until it is released."""
        with self._lock:
            plans = self._by_cursor.setdefault(id(cursor), OrderedDict())
            name = plans.get(sql)
            if name is not None:
                plans.move_to_end(sql)
                return f"EXECUTE {name}"
            if sql in self._refused:
                return sql
            if sql not in self._seen:
                self._remember(self._seen, sql)
                return sql
            name = f"__pe_plan_{next(self._names)}"
            evicted = plans.popitem(last=False)[1] if len(plans) >= self.per_cursor else None
        if evicted is not None:
            try:
                cursor.execute(f"DEALLOCATE {evicted}")
            except duckdb.Error:  # gone already: the cursor keeps nothing under that name
                pass
        try:
            cursor.execute(f"PREPARE {name} AS {sql}")
        except duckdb.Error:
            # not preparable (or it fails to bind, which running the text reports in its own words)
            with self._lock:
                self._remember(self._refused, sql)
            return sql
        with self._lock:
            plans[sql] = name
        return f"EXECUTE {name}"

    def forget(self, cursor: Any) -> None:
        """``cursor`` is closed: its prepared statements went with it."""
        with self._lock:
            self._by_cursor.pop(id(cursor), None)

    def _remember(self, texts: OrderedDict[str, None], sql: str) -> None:
        texts[sql] = None
        if len(texts) > self.remembered:
            texts.popitem(last=False)
