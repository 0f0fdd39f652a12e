"""The front door's catalog: ``pg_catalog`` and ``information_schema`` as one principal sees them.

``Catalogs.open`` answers a catalog statement from that principal's sealed shadow database, built
once per (policy version, subject) from the decision, and never from the data.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any

import duckdb
from sqlglot import exp

from policyengine.backends.duckdb import ResultStream
from policyengine.backends.errors import sanitize
from policyengine.decision import Subject
from policyengine.decision.visible import visible_tables
from policyengine.server.catalog.listing import listing_for
from policyengine.server.catalog.shadow import shadow_database
from policyengine.server.catalog.translate import SessionValues, is_catalog_statement, translate

__all__ = ["Catalogs", "SessionValues", "is_catalog_statement"]

BATCH_ROWS = 1000
KEEP = 64  # shadow databases kept (least recently used are dropped)


class Catalogs:
    def __init__(self, engine: Any, database: str, settings: dict[str, str]):
        self.engine = engine
        self.database = database
        self.settings = settings
        self._shadows: OrderedDict[tuple[Any, ...], duckdb.DuckDBPyConnection] = OrderedDict()
        self._lock = Lock()
        self._building: dict[tuple[Any, ...], Lock] = {}

    def shadow(self, subject: Subject, environment: str | None = None) -> duckdb.DuckDBPyConnection:
        policy_set = self.engine.policy_set
        key = (policy_set.version, subject.name, subject.roles, environment)
        with self._lock:
            found = self._shadows.get(key)
            if found is not None:
                self._shadows.move_to_end(key)
                return found
            building = self._building.setdefault(key, Lock())
        with building:  # ten clients of one principal connecting at once build its catalog once
            with self._lock:
                found = self._shadows.get(key)
            if found is not None:
                return found
            con = self._build(policy_set, subject, environment)
            with self._lock:
                self._shadows[key] = con
                self._building.pop(key, None)
                while len(self._shadows) > KEEP:
                    self._shadows.popitem(last=False)[1].close()
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
        cursor = self.shadow(subject).cursor()
        try:
            cursor.execute(sql, parameters or None)
        except duckdb.Error as error:
            cursor.close()
            raise sanitize(error) from None
        return ResultStream(cursor, BATCH_ROWS, lambda c, _reusable: c.close())

    def close(self) -> None:
        with self._lock:
            for con in self._shadows.values():
                con.close()
            self._shadows.clear()
