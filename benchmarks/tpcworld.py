"""TPC-H / TPC-DS as the engine serves them: data at scale, the TPC policy sets, the engine, a raw twin.

The policy sets are those the tests use too (``benchmarks/tpc.py``: role ``masked`` has protections of every kind on
columns the queries read, and row filters; ``all_clear`` is cleared for everything). The engine serves
one copy of the database; the raw queries run on another, byte-identical copy opened with the same
DuckDB settings as the engine's instance (threads, memory), since one process can open a file only once.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from benchmarks import data
from benchmarks.common import KEY_HEX
from policyengine import crypto
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.decision import Outcome, RowScope, Subject, subject_for
from policyengine.engine import Engine


@dataclass
class TpcWorld:
    name: str
    engine: Engine
    reference: duckdb.DuckDBPyConnection
    masked: Subject
    clear: Subject
    queries: list[tuple[str, str]]
    rows: dict[str, int]
    schema: dict[str, dict[str, str]] = field(default_factory=dict)

    def close(self) -> None:
        self.reference.close()
        self.engine.close()


def available() -> str | None:
    """Why TPC-H/TPC-DS cannot be measured here, or None."""
    from benchmarks.tpc import SHARED

    if not SHARED.is_dir():
        return f"needs the shared benchmark data at {SHARED} (set POLICYENGINE_SHARED to its parent folder)"
    return None


def build(name: str, folder: Path, copies: int, limit: int | None) -> TpcWorld:
    from benchmarks import tpc

    sets = {"tpch": (tpc.TPCH_PROTECTIONS, tpc.TPCH_ROWS), "tpcds": (tpc.TPCDS_PROTECTIONS, tpc.TPCDS_ROWS)}
    raw = folder / f"{name}.duckdb"
    queries = tpc.queries(name)[:limit]
    only = None
    if limit is not None:  # a few queries: only the tables they read
        only = {table.name.lower() for _, sql in queries
                for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}
    rows = data.build_tpc(name, raw, copies, only)
    served = folder / f"{name}-served.duckdb"
    shutil.copyfile(raw, served)
    policies = folder / f"{name}-policies"
    tpc.write_policy_set(raw, policies, *sets[name])
    engine = Engine.load(policies, served, keys=crypto.parse_key(KEY_HEX))
    reference = reference_connection(raw, engine)
    schema: dict[str, dict[str, str]] = {}
    for table, column, kind in reference.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal").fetchall():
        schema.setdefault(table.lower(), {})[column.lower()] = kind
    return TpcWorld(name, engine, reference, subject_for(engine.policy_set, roles=["masked"]),
                    subject_for(engine.policy_set, roles=["all_clear"]), queries, rows, schema)


def reference_connection(path: Path, engine: Engine) -> duckdb.DuckDBPyConnection:
    """The raw twin: read-only, with the engine instance's threads and memory limit."""
    con = duckdb.connect(str(path), read_only=True)
    limits = engine.backend.limits if isinstance(engine.backend, DuckDBBackend) else None
    con.execute("SET enable_progress_bar = false")
    if limits is not None:
        con.execute(f"SET threads = {int(limits.threads)}")
        con.execute(f"SET memory_limit = '{limits.memory}'")
    return con


def read_columns(sql: str, schema: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    """(table, column) of every base-table column the query reads, by sqlglot's scopes after qualifying
    the query against the database's schema. ``*`` in a projection reads every column of the scope's base
    tables; ``count(*)`` and ``EXISTS (SELECT * ...)`` read none (DuckDB prunes them)."""
    try:
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=schema, dialect="duckdb", expand_stars=False,
                       validate_qualify_columns=False, quote_identifiers=False, identify=False)
    except OptimizeError:
        # positional references to a star's columns need the stars expanded (then EXISTS (SELECT * ...)
        # counts as reading its table's columns: the cautious side)
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=schema, dialect="duckdb",
                       validate_qualify_columns=False, quote_identifiers=False, identify=False)
    out: set[tuple[str, str]] = set()
    for scope in traverse_scope(tree):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                out.add((source.name.lower(), column.name.lower()))
        select = scope.expression
        if not isinstance(select, exp.Select) or isinstance(select.parent, exp.Exists):
            continue
        for projection in select.expressions:
            star = projection if isinstance(projection, exp.Star) else None
            if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                star = projection
            if star is None:
                continue
            qualifier = star.table if isinstance(star, exp.Column) else ""
            for alias, source in scope.sources.items():
                if isinstance(source, exp.Table) and (not qualifier or alias == qualifier):
                    out.update((source.name.lower(), column) for column in schema.get(source.name.lower(), {}))
    return out


def classify(world: TpcWorld, sql: str, rewritten: Any) -> dict[str, Any]:
    """What the engine's decision for role masked does to this query: the PROTECTED columns it reads (by
    the decision, not by guessing), whether a row filter applies, and its group: ``protected`` (reads a
    protected column), ``row filter`` (reads none, but a row filter applies) or ``none`` (neither)."""
    protected = {(d.table_name.rsplit(".", 1)[-1].lower(), c.column.name.lower()): c.protection.kind
                 for d in rewritten.decisions for c in d.columns if c.outcome is Outcome.PROTECTED}
    filtered = sorted({d.table_name for d in rewritten.decisions if d.rows.scope is not RowScope.ALL})
    read = read_columns(sql, world.schema)
    hits = sorted(f"{table}.{column} ({protected[(table, column)]})" for table, column in read
                  if (table, column) in protected)
    group = "protected" if hits else ("row filter" if filtered else "none")
    return {"group": group, "protected_read": hits, "row_filtered": filtered}
