"""The front door's catalog: ``pg_catalog`` and ``information_schema`` as one principal sees them.

``Catalogs.open`` answers a catalog statement from that principal's sealed shadow database, built
once per (policy version, subject) from the decision, and never from the data.
"""

from __future__ import annotations

from threading import Lock
from typing import Any

import duckdb
from sqlglot import exp

from policyengine.backends.duckdb import ResultStream
from policyengine.backends.errors import sanitize
from policyengine.bounded_cache import BoundedCache
from policyengine.decision import Subject
from policyengine.decision.visible import visible_tables
from policyengine.server.catalog.listing import listing_for
from policyengine.server.catalog.shadow import shadow_database
from policyengine.server.catalog.translate import (
    SessionValues,
    array_parameters,
    is_catalog_statement,
    parse_array,
    translate,
)

__all__ = ["Catalogs", "SessionValues", "is_catalog_statement"]

BATCH_ROWS = 1000
KEEP = 64  # shadow databases kept (least recently used are dropped)


class Catalogs:
    def __init__(self, engine: Any, database: str, settings: dict[str, str]):
        self.engine = engine
        self.database = database
        self.settings = settings
        #: least recently used shadows are closed when pushed out (outside the cache's lock)
        self._shadows: BoundedCache[tuple[Any, ...], duckdb.DuckDBPyConnection] = BoundedCache(
            KEEP, on_evict=lambda _key, con: con.close())
        self._lock = Lock()  # guards _building only
        self._building: dict[tuple[Any, ...], Lock] = {}

    def shadow(self, subject: Subject, environment: str | None = None) -> duckdb.DuckDBPyConnection:
        policy_set = self.engine.policy_set
        key = (policy_set.version, subject.name, subject.roles, environment)
        found = self._shadows.get(key)
        if found is not None:
            return found
        with self._lock:
            building = self._building.setdefault(key, Lock())
        with building:  # ten clients of one principal connecting at once build its catalog once
            found = self._shadows.get(key)
            if found is not None:
                return found
            con = self._build(policy_set, subject, environment)
            self._shadows.put(key, con)
            with self._lock:
                self._building.pop(key, None)
            return con

    def _build(self, policy_set: Any, subject: Subject, environment: str | None) -> duckdb.DuckDBPyConnection:
        backend = self.engine.backend
        present = backend.columns() if backend is not None else None
        decisions = visible_tables(policy_set, subject, environment, present)
        return shadow_database(listing_for(decisions, database=self.database, user=subject.name or ""),
                               self.settings)

    def open(self, subject: Subject, tree: exp.Expression, session: SessionValues,
             parameters: list[Any] | None = None) -> ResultStream:
        """Run a catalog statement (translate.py refuses what it cannot place) and stream its rows."""
        sql = translate(tree, session)
        if parameters:
            arrays = array_parameters(tree)
            parameters = [parse_array(value) if number in arrays and isinstance(value, str) else value
                          for number, value in enumerate(parameters, 1)]
        cursor = self.shadow(subject).cursor()
        try:
            cursor.execute(sql, parameters or None)
        except duckdb.Error as error:
            cursor.close()
            raise sanitize(error) from None
        return ResultStream(cursor, BATCH_ROWS, lambda c, _reusable: c.close())

    def close(self) -> None:
        for key in self._shadows.keys():
            con = self._shadows.pop(key)
            if con is not None:
                con.close()
