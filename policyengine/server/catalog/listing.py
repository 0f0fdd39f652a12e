"""What one principal may see of the database's structure: the input every catalog answer is built from.

It is derived from the decision alone (the tables the subject may read, and of each only the
columns it is not denied), so ``\\d``, SQLAlchemy's inspector and JDBC metadata can never list a
table or column the same subject could not query. A column's nullability is only promised where
the subject sees it raw: a protection may turn a required value into NULL.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from policyengine.decision import Outcome, TableDecision

#: the schema tables without one are shown in: PostgreSQL's ``public``, where every tool looks first
#: (DuckDB's ``main`` is never shown: a table named ``main.x`` is listed as ``public.x``)
DEFAULT_SCHEMA = "public"
DUCKDB_DEFAULT_SCHEMA = "main"
FIRST_USER_OID = 16384


@dataclass(frozen=True)
class ListedColumn:
    name: str
    sql_type: str
    not_null: bool
    primary_key: bool
    description: str | None


@dataclass(frozen=True)
class ListedTable:
    schema: str
    name: str
    description: str | None
    columns: tuple[ListedColumn, ...]

    @property
    def primary_key(self) -> tuple[int, ...]:
        """1-based positions of the key's columns; empty when a key column is hidden (a partial key misleads)."""
        return tuple(i for i, c in enumerate(self.columns, 1) if c.primary_key)


@dataclass(frozen=True)
class Listing:
    database: str
    user: str
    tables: tuple[ListedTable, ...]

    @property
    def schemas(self) -> tuple[str, ...]:
        return tuple(sorted({DEFAULT_SCHEMA} | {t.schema for t in self.tables}))


def listing_for(decisions: list[TableDecision], *, database: str, user: str) -> Listing:
    tables = []
    for decision in decisions:
        if not decision.allowed or decision.table is None:
            continue
        parts = decision.table.parts
        shown = [c for c in decision.columns if c.outcome is not Outcome.DENIED]
        hidden_key = any(c.column.primary_key and c.outcome is Outcome.DENIED for c in decision.columns)
        columns = tuple(ListedColumn(c.column.name, c.column.type.sql,
                                     c.column.mode == "required" and c.outcome is Outcome.RAW,
                                     c.column.primary_key and not hidden_key, c.column.description)
                        for c in shown)
        schema = parts[-2] if len(parts) >= 2 and parts[-2] != DUCKDB_DEFAULT_SCHEMA else DEFAULT_SCHEMA
        tables.append(ListedTable(schema, parts[-1],
                                  decision.table.description, columns))
    return Listing(database, user, tuple(sorted(tables, key=lambda t: (t.schema, t.name))))


def stable_oid(*names: str) -> int:
    """An OID for a user object that is the same for every principal and every reload: a hash of its name.

    Even numbers only, so that ``oid + 1`` is free for the object's primary-key index."""
    return FIRST_USER_OID + (zlib.crc32("\0".join(names).encode()) % 500_000_000) * 2
