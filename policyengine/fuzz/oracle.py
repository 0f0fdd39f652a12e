"""The oracle: a copy of the data with a subject's protections and row filters materialized.

Mask-at-read means ``engine(Q)(data) == Q(materialized(data))`` for every query Q: running the
reader's own SQL, untouched, on this copy must give what the engine gives on the real data. The
built-in protection kinds are applied here in Python, independently of the SQL the rewriter
builds (each kind's reference in its module of :mod:`policyengine.protections`; keyed kinds through
:mod:`policyengine.crypto`, which the SQL is separately checked against); custom masks and row
filters are policy SQL, evaluated by DuckDB on the raw rows.
"""

from __future__ import annotations

import csv
import decimal
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from policyengine import crypto
from policyengine.decision import Outcome, RowScope, Subject, decide
from policyengine.model import Column, PolicySet, name_key
from policyengine.protections import KINDS


def protector(column: Column, keys: crypto.KeyMaterial | None) -> Callable[[Any], Any]:
    """The column's protection in plain Python: its kind's reference implementation (each kind's
    module, :mod:`policyengine.protections`), NULL kept NULL."""
    protection = column.protection
    reference = KINDS[protection.kind].reference

    def fn(value: Any) -> Any:
        if value is None:
            return None
        return reference(value, column, protection, keys)

    return fn


def bind_policy_sql(sql: str, subject: Subject, active: set[str]) -> str:
    """The oracle's own binding of context functions, independent of the rewriter's."""
    tree = sqlglot.parse_one(sql, read="snowflake")

    def answer(node: exp.Expression) -> exp.Expression:
        name = node.name.upper() if isinstance(node, exp.Anonymous) else ""
        if isinstance(node, exp.CurrentRole):
            return exp.Literal.string(subject.roles[0].upper())
        if isinstance(node, exp.CurrentUser):
            return exp.Literal.string((subject.name or "").upper()) if subject.name else exp.null()
        if name == "IS_ROLE_IN_SESSION":
            return exp.true() if name_key(node.expressions[0].this) in active else exp.false()
        if name == "PRINCIPAL_ATTRIBUTE":
            value = subject.attributes.get(node.expressions[0].this)
            return exp.Literal.string(str(value)) if value is not None else exp.null()
        return node

    return tree.transform(answer).sql(dialect="duckdb")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


NULL_MARK = "\\N"


def _bulk_insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]], folder: Path) -> None:
    """Through a CSV file and COPY: DuckDB's executemany takes seconds for a few thousand rows."""
    path = folder / f".{table}.oracle.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([NULL_MARK if v is None else ("true" if v is True else "false" if v is False else v)
                             for v in row])
    try:
        con.execute(f"COPY {table} FROM '{path}' (FORMAT csv, HEADER false, NULLSTR '{NULL_MARK}')")
    finally:
        path.unlink()


def materialize(policy_set: PolicySet, subject: Subject, environment: str | None, source: Path, target: Path,
                keys: crypto.KeyMaterial | None) -> None:
    raw = duckdb.connect(str(source), read_only=True)
    out = duckdb.connect(str(target))
    try:
        for table in policy_set.tables.values():
            decision = decide(policy_set, subject, environment, table)
            if not decision.allowed:
                continue
            active = set(decision.grant.active)
            visible = [c for c in decision.columns if c.outcome is not Outcome.DENIED]
            selects = []
            for choice in visible:
                column = choice.column
                if choice.outcome is Outcome.PROTECTED and column.protection.kind == "custom":
                    body = bind_policy_sql(column.protection.expr, subject, active)
                    value = exp.column(column.name, quoted=True)
                    tree = sqlglot.parse_one(body, read="duckdb").transform(
                        lambda n, value=value: value.copy()
                        if isinstance(n, exp.Column) and n.name.lower() == "val" else n)
                    selects.append(f"TRY_CAST({tree.sql('duckdb')} AS {column.type.sql})")
                else:
                    selects.append(quote(column.name))
            where = "TRUE"
            if decision.rows.scope is RowScope.NONE:
                where = "FALSE"
            elif decision.rows.scope is RowScope.RULES:
                where = " OR ".join(f"COALESCE(({bind_policy_sql(r.where_sql, subject, active)}), FALSE)"
                                    for r in decision.rows.rules)
            rows = raw.execute(f"SELECT {', '.join(selects) or 'NULL'} FROM {table.name} WHERE {where}").fetchall()
            functions = [
                protector(c.column, keys) if c.outcome is Outcome.PROTECTED and c.column.protection.kind != "custom"
                else (lambda v: v)
                for c in visible
            ]
            protected = [tuple(f(v) for f, v in zip(functions, row)) for row in rows]
            ddl = ", ".join(f"{quote(c.column.name)} {c.column.type.sql}" for c in visible)
            schema = table.name.rsplit(".", 1)[0] if "." in table.name else None
            if schema:
                out.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            out.execute(f"CREATE TABLE {table.name} ({ddl})")
            if protected:
                _bulk_insert(out, table.name, protected, target.parent)
    finally:
        raw.close()
        out.close()


def normalize_rows(rows: list[tuple[Any, ...]], ordered: bool) -> list[tuple[Any, ...]]:
    """Rows compared as a multiset (unless ordered), floats to 9 significant digits."""
    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.9g}") if math.isfinite(value) else str(value)
        if isinstance(value, decimal.Decimal):
            return float(f"{float(value):.9g}")
        if isinstance(value, dict):
            return tuple(sorted((k, cell(v)) for k, v in value.items()))
        if isinstance(value, list):
            return tuple(cell(v) for v in value)
        return value

    out = [tuple(cell(v) for v in row) for row in rows]
    return out if ordered else sorted(out, key=repr)
